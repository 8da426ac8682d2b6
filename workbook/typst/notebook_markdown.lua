-- Pandoc filter for Jupyter Markdown on its way to Typst.
--
-- Jupyter renders Markdown with MathJax, which accepts more TeX than pandoc's
-- math reader (texmath) and whose symbols Typst sometimes names differently
-- from pandoc's Typst writer. This filter rewrites the TeX of every math
-- element into an equivalent that both understand, turns bare LaTeX math
-- environments (\begin{align} ... outside $$) into display math, and turns the
-- HTML that notebooks commonly use (<img>, <br>) into Markdown elements.

-- Image paths get a marker in front, so that the exporter finds them in the Typst (and nothing else).
local image_token = os.getenv("NB_TYPST_IMAGE_TOKEN") or ""

-- TeX commands replaced by a character or a command that texmath and Typst both know.
local replace = {
  -- renamed symbols: the Typst writer's names (sect, times.circle, ...) are gone from Typst 0.14+
  cap = "∩", sqcap = "⊓", Cap = "⋒", bigcap = "⋂",
  otimes = "⊗", oplus = "⊕", ominus = "⊖", odot = "⊙", oslash = "⊘",
  bigotimes = "⨂", bigoplus = "⨁", bigodot = "⨀",
  triangleleft = "◁", triangleright = "▷", lhd = "⊲", rhd = "⊳", unlhd = "⊴", unrhd = "⊵",
  trianglelefteq = "⊴", trianglerighteq = "⊵", ntriangleleft = "⋪", ntriangleright = "⋫",
  models = "⊨", vDash = "⊨", nvDash = "⊭",
  -- commands texmath does not know
  lt = "<", gt = ">", amp = "\\&", S = "§", P = "¶", copyright = "©", surd = "√",
  shortmid = "∣", shortparallel = "∥", circledS = "Ⓢ",
  iiint = "∭", iiiint = "⨌", intop = "\\int", ointop = "\\oint",
  coloneqq = ":=", eqqcolon = "=:", vcentcolon = ":", coloneq = ":=",
  cfrac = "\\frac", nicefrac = "\\frac", hbox = "\\mbox", textup = "\\text", textnormal = "\\text",
  bf = "\\mathbf", rm = "\\mathrm", it = "\\mathit", cal = "\\mathcal", sf = "\\mathsf", tt = "\\mathtt",
  -- dropped: limits, sizes and spacing struts change nothing essential in print
  limits = "", nolimits = "", nonumber = "", notag = "", mathstrut = "", strut = "",
  tiny = "", scriptsize = "", footnotesize = "", small = "", normalsize = "",
  large = "", Large = "", LARGE = "", huge = "", Huge = "",
}

-- \name{argument} rewritten with the argument (%1)
local with_argument = {
  label = "", tag = "\\qquad\\text{(%1)}", eqref = "\\text{(%1)}", ref = "\\text{%1}",
  color = "", textcolor = "", vphantom = "", hspace = "\\quad",
  smash = "{%1}", raisebox = "",
}

local function replace_commands(tex)
  -- an odd number of backslashes before the letters: a command (\\ followed by letters is a line break)
  return (tex:gsub("(\\+)(%a+)(%*?)", function(slashes, name, star)
    if #slashes % 2 == 0 then
      return nil
    end
    local lead = slashes:sub(1, -2)
    local by = replace[name]
    if by ~= nil and star == "" then
      return lead .. by .. (by:match("%a$") and " " or "")
    end
    return nil
  end))
end

local function balanced_group(tex, from)
  -- position after the {...} group that starts at `from`, or nil
  if tex:sub(from, from) ~= "{" then
    return nil
  end
  local depth = 0
  local i = from
  while i <= #tex do
    local c = tex:sub(i, i)
    if c == "\\" then
      i = i + 1
    elseif c == "{" then
      depth = depth + 1
    elseif c == "}" then
      depth = depth - 1
      if depth == 0 then
        return i + 1
      end
    end
    i = i + 1
  end
  return nil
end

local function replace_with_arguments(tex)
  local out, i = {}, 1
  while true do
    local s, e, slashes, name, star = tex:find("(\\+)(%a+)(%*?)%s*", i)
    if not s then
      break
    end
    local template = with_argument[name]
    local stop = template and #slashes % 2 == 1 and balanced_group(tex, e + 1)
    if stop then
      local argument = tex:sub(e + 2, stop - 2)
      table.insert(out, tex:sub(i, s - 1) .. slashes:sub(1, -2))
      if name == "textcolor" or name == "raisebox" then
        -- \textcolor{colour}{text}, \raisebox{length}{text}: keep the second argument
        local stop2 = balanced_group(tex, stop)
        if stop2 then
          table.insert(out, "{" .. tex:sub(stop + 1, stop2 - 2) .. "}")
          stop = stop2
        end
      else
        table.insert(out, (template:gsub("%%1", function() return argument end)))
      end
      i = stop
    else
      table.insert(out, tex:sub(i, e))
      i = e + 1
    end
  end
  table.insert(out, tex:sub(i))
  return table.concat(out)
end

-- \underset{below}{base}, \overset{above}{base}, \stackrel{above}{base}: texmath writes base_below,
-- base^above. Markers around the base let fix_typst put it in limits(...), as MathJax stacks them.
local function mark_stacked(tex)
  for _ = 1, 50 do
    local s, e, name
    local found = false
    local from = 1
    while true do
      s, e, name = tex:find("\\(%a+)%s*", from)
      if not s then
        break
      end
      if (name == "underset" or name == "overset" or name == "stackrel") and tex:sub(s - 1, s - 1) ~= "\\" then
        local stop1 = balanced_group(tex, e + 1)
        local stop2 = stop1 and balanced_group(tex, stop1 + (tex:sub(stop1):match("^%s*") or ""):len())
        if stop2 then
          local script = tex:sub(e + 2, stop1 - 2)
          local start2 = stop1 + (tex:sub(stop1):match("^%s*") or ""):len()
          local base = tex:sub(start2 + 1, stop2 - 2)
          local mark = name == "underset" and "_" or "^"
          tex = tex:sub(1, s - 1) .. "\\operatorname{Zlimo}{" .. base .. "}\\operatorname{Zlimc}" .. mark
            .. "{" .. script .. "}" .. tex:sub(stop2)
          found = true
          break
        end
      end
      from = e + 1
    end
    if not found then
      break
    end
  end
  return tex
end

local function fix_tex(tex, display)
  tex = mark_stacked(tex)
  -- \operatorname*{arg\,min}_x: limits below and above in display math, as in LaTeX
  if display then
    tex = tex:gsub("\\operatorname%*%s*{", "\\operatorname{Zlimz")
  else
    tex = tex:gsub("\\operatorname%*", "\\operatorname")
  end
  tex = replace_with_arguments(tex)
  -- spacing primitives with a dimension: \kern3pt, \mkern-2mu, \hskip 1em, \mskip 4mu
  tex = tex:gsub("\\[mh]?kern%s*%-?[%d%.]+%s*%a%a", "\\,")
  tex = tex:gsub("\\[mh]skip%s*%-?[%d%.]+%s*%a%a", "\\,")
  -- {\rm ReLU}, {\bf x}: the old switches, as commands over the whole group
  tex = tex:gsub("{%s*\\(%a%a)%s+([^{}\\]*)}", function(switch, body)
    local command = ({rm = "mathrm", bf = "mathbf", it = "mathit", sf = "mathsf", tt = "mathtt", cal = "mathcal"})[switch]
    if command then
      return "\\" .. command .. "{" .. body .. "}"
    end
    return nil
  end)
  -- {a \over b}
  tex = tex:gsub("{([^{}]-)\\over([^{}%a][^{}]-)}", "\\frac{%1}{%2}")
  -- determinant bars: texmath writes both as a double bar that Typst rejects
  tex = tex:gsub("\\begin{vmatrix}", "\\left|\\begin{matrix}"):gsub("\\end{vmatrix}", "\\end{matrix}\\right|")
  tex = tex:gsub("\\begin{Vmatrix}", "\\left\\|\\begin{matrix}"):gsub("\\end{Vmatrix}", "\\end{matrix}\\right\\|")
  tex = replace_commands(tex)
  -- a line break outside any environment: MathJax stacks the lines, texmath refuses them
  if tex:find("\\\\", 1, true) and not tex:find("\\begin", 1, true) then
    if display then
      tex = "\\begin{gathered}" .. tex .. "\\end{gathered}"
    else
      tex = tex:gsub("\\\\\\\\", "\\quad ")
    end
  end
  return tex
end

-- Typst symbols that pandoc's writer still calls by their names before Typst 0.14
local typst_renames = {
  {"%f[%w]sect%f[^%w]", "inter"},
  {"%f[%w](%a+)%.circle%f[^%w]", "%1.o"},
  {"%f[%w]lt%.tri%f[^%w]", "lt.closed"},
  {"%f[%w]gt%.tri%f[^%w]", "gt.closed"},
}

local function rename_symbols(code)
  for _, rename in ipairs(typst_renames) do
    code = code:gsub(rename[1], rename[2])
  end
  return code
end

local function stack_marked(typst)
  typst = typst:gsub('"Zlimz([^"]*)"', 'limits("%1")')
  for _ = 1, 50 do
    local close_s, close_e = typst:find('"Zlimc"', 1, true)
    if not close_s then
      break
    end
    local open_s, open_e
    local from = 1
    while true do
      local s, e = typst:find('"Zlimo"', from, true)
      if not s or s > close_s then
        break
      end
      open_s, open_e = s, e
      from = e + 1
    end
    if not open_s then
      break
    end
    local base = typst:sub(open_e + 1, close_s - 1):gsub("^%s+", ""):gsub("%s+$", "")
    local stacked = base:find(",", 1, true) and base or "limits(" .. base .. ")"
    typst = typst:sub(1, open_s - 1) .. stacked .. typst:sub(close_e + 1)
  end
  return typst
end

local function fix_typst(typst)
  typst = stack_marked(typst)
  -- a double bar as one delimiter: Typst wants one character
  typst = typst:gsub('delim: "||"', 'delim: "‖"')
  -- rename outside string literals only: "sect" in \text{sect} stays
  local out, from, i, in_string = {}, 1, 1, false
  while i <= #typst do
    local c = typst:sub(i, i)
    if c == "\\" then
      i = i + 2
    elseif c == '"' then
      local piece = typst:sub(from, in_string and i or i - 1)
      table.insert(out, in_string and piece or rename_symbols(piece))
      from = in_string and i + 1 or i
      in_string = not in_string
      i = i + 1
    else
      i = i + 1
    end
  end
  local rest = typst:sub(from)
  table.insert(out, in_string and rest or rename_symbols(rest))
  return table.concat(out)
end

local math_environments = {
  equation = true, align = true, alignat = true, gather = true, multline = true, flalign = true,
  eqnarray = true, aligned = true, gathered = true, split = true, cases = true, matrix = true,
  pmatrix = true, bmatrix = true, vmatrix = true, Vmatrix = true, Bmatrix = true, array = true,
}

local function math_environment(raw)
  if raw.format ~= "tex" and raw.format ~= "latex" then
    return nil
  end
  local name = raw.text:match("^%s*\\begin{(%a+)%*?}")
  if name and math_environments[name] then
    return pandoc.Math("DisplayMath", raw.text)
  end
  return nil
end

local function html_element(raw)
  if raw.format ~= "html" then
    return nil
  end
  local text = raw.text
  if text:match("^<br%s*/?>$") then
    return pandoc.LineBreak()
  end
  if text:match("^<img%s") then
    local src = text:match('src%s*=%s*"([^"]*)"') or text:match("src%s*=%s*'([^']*)'")
    if src then
      local alt = text:match('alt%s*=%s*"([^"]*)"') or ""
      local width = text:match('width%s*=%s*"?(%d+)"?')
      local attributes = {}
      if width then
        attributes.width = width .. "px"
      end
      return pandoc.Image(alt, image_token .. src, "", pandoc.Attr("", {}, attributes))
    end
  end
  return nil
end

-- TeX outside math that is not a math environment: Jupyter shows it as typed
local function tex_as_text(raw)
  if raw.format == "tex" or raw.format == "latex" then
    return pandoc.Str(raw.text)
  end
  return nil
end

function RawInline(el)
  return math_environment(el) or html_element(el) or tex_as_text(el)
end

function RawBlock(el)
  local inline = math_environment(el) or html_element(el) or tex_as_text(el)
  if inline then
    return pandoc.Para({inline})
  end
  return nil
end

-- An HTML table in Markdown (Jupyter renders it): the reader splits it into raw tags around
-- Markdown cells; put it back together as HTML and read it with pandoc's HTML reader.
local function html_tag(block, pattern)
  return block.t == "RawBlock" and block.format == "html" and block.text:match(pattern)
end

local function read_html_table(blocks, first, last)
  -- math goes through HTML as placeholders (the HTML reader would not read it back as math)
  local stash, parts = {}, {}
  for i = first, last do
    local block = blocks[i]
    if block.t == "RawBlock" and block.format == "html" then
      table.insert(parts, block.text)
    else
      block = block:walk({Math = function(m)
        table.insert(stash, m)
        return pandoc.Str("ZHTMLMATH" .. #stash .. "Z")
      end})
      table.insert(parts, pandoc.write(pandoc.Pandoc({block}), "html"))
    end
  end
  local ok, parsed = pcall(pandoc.read, table.concat(parts, "\n"), "html")
  if not ok then
    return nil
  end
  local function restore(inlines)
    local out = {}
    for _, el in ipairs(inlines) do
      if el.t == "Str" and el.text:find("ZHTMLMATH%d+Z") then
        local text, pos = el.text, 1
        while true do
          local s, e, n = text:find("ZHTMLMATH(%d+)Z", pos)
          if not s then
            break
          end
          if s > pos then
            table.insert(out, pandoc.Str(text:sub(pos, s - 1)))
          end
          table.insert(out, stash[tonumber(n)])
          pos = e + 1
        end
        if pos <= #text then
          table.insert(out, pandoc.Str(text:sub(pos)))
        end
      else
        table.insert(out, el)
      end
    end
    return out
  end
  return pandoc.Pandoc(parsed.blocks):walk({Inlines = restore}).blocks
end

function Blocks(blocks)
  local out, i = {}, 1
  while i <= #blocks do
    local block = blocks[i]
    local replaced = false
    if html_tag(block, "^%s*<table[%s>]") then
      local depth, j = 0, i
      while j <= #blocks do
        if html_tag(blocks[j], "^%s*<table[%s>]") then
          depth = depth + 1
        elseif html_tag(blocks[j], "^%s*</table>") then
          depth = depth - 1
          if depth == 0 then
            break
          end
        end
        j = j + 1
      end
      local parsed = j <= #blocks and read_html_table(blocks, i, j)
      if parsed then
        for _, b in ipairs(parsed) do
          table.insert(out, b)
        end
        i = j + 1
        replaced = true
      end
    end
    if not replaced then
      table.insert(out, block)
      i = i + 1
    end
  end
  return out
end

function Image(el)
  el.src = image_token .. el.src
  return el
end

-- All math of the document, converted with one call of the Typst writer (one call per formula
-- would double pandoc's time): fixed TeX in, Typst out, fixed names; texmath's failures keep the
-- notebook's own TeX, as text.
local function as_text(el)
  local tex = el.mathtype == "DisplayMath" and "$$" .. el.text .. "$$" or "$" .. el.text .. "$"
  local typst = pandoc.write(pandoc.Pandoc({pandoc.Plain({pandoc.Str(tex)})}), "typst", {wrap_text = "wrap-none"})
  return (typst:gsub("%s+$", ""))
end

function Pandoc(doc)
  local maths = {}
  doc:walk({Math = function(el) table.insert(maths, el) end})
  if #maths == 0 then
    return doc
  end
  local separator = "ZMATHSEP" .. image_token
  local blocks = {}
  for i, el in ipairs(maths) do
    table.insert(blocks, pandoc.Plain({pandoc.Math(el.mathtype, fix_tex(el.text, el.mathtype == "DisplayMath"))}))
    table.insert(blocks, pandoc.Plain({pandoc.Str(separator .. "x" .. i)}))
  end
  local written = pandoc.write(pandoc.Pandoc(blocks), "typst", {wrap_text = "wrap-none"})
  local converted = {}
  for typst, i in written:gmatch("%s*(.-)%s*" .. separator .. "x(%d+)") do
    converted[tonumber(i)] = typst
  end
  local n = 0
  return doc:walk({Math = function(el)
    n = n + 1
    local typst = converted[n]
    if typst == nil or typst:sub(1, 1) ~= "$" then
      return pandoc.RawInline("typst", as_text(el))
    end
    return pandoc.RawInline("typst", fix_typst(typst))
  end})
end
