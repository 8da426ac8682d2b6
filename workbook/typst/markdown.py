"""Markdown (with TeX math) to Typst, with the pandoc of ``pypandoc_binary``.

Starting pandoc costs about 50 ms, so a notebook's Markdown goes through one
pandoc process: :func:`markdown_to_typst` joins all the pieces with unique
separator paragraphs, converts them at once and splits the result. Should a
piece swallow its separator (an unclosed code fence or HTML comment), the
pieces are converted one by one instead.

``notebook_markdown.lua`` (a pandoc filter) adapts MathJax-style TeX to what
pandoc's math reader and Typst accept, and the HTML notebooks use (``<img>``,
``<br>``, tables). Afterwards, :func:`fix_links` turns links to labels that do
not exist into plain links, and :func:`replace_images` lets the caller say
where each image will be found (or that it cannot be).
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from helpers.files import atomic_write, content_hash

from .errors import TypstExportError

LUA_FILTER = Path(__file__).resolve().parent / "notebook_markdown.lua"

#: Jupyter's Markdown: CommonMark-like (lists may follow a line of text, bare URLs are links), MathJax
#: math with $...$, $$...$$, \(...\) and \[...\], no citations (@name is text), no implicit figures
#: (an image's alt text is not a caption), text typed as is (no smart quotes or dashes).
MARKDOWN_FORMAT = (
    "markdown-smart-citations-implicit_figures-subscript-superscript"
    "+lists_without_preceding_blankline+tex_math_single_backslash+autolink_bare_uris"
)
PANDOC_ARGS = ["--to", "typst", "--wrap=none", "--lua-filter", str(LUA_FILTER)]

_UNCONVERTED_MATH = re.compile(r"^\[WARNING\] Could not convert TeX math (.*?), rendering as TeX:?$", re.M | re.S)


@lru_cache(maxsize=1)
def pandoc_path() -> str:
    """The pandoc that ``pypandoc_binary`` ships (not a pandoc on ``PATH``: its version is pinned).

    Found without importing pypandoc, whose own lookup runs every pandoc it finds to compare versions.
    """
    spec = importlib.util.find_spec("pypandoc")
    if spec is None or not spec.origin:
        raise TypstExportError(
            "the Typst engine needs the Python package pypandoc_binary (it ships pandoc).\n"
            "Fix: pip install -r requirements.txt (or: pip install pypandoc_binary)"
        )
    shipped = Path(spec.origin).parent / "files" / ("pandoc.exe" if sys.platform == "win32" else "pandoc")
    if shipped.is_file():
        return str(shipped)
    try:  # pypandoc without the binary: whatever pandoc it finds
        import pypandoc

        return pypandoc.get_pandoc_path()
    except OSError as err:
        raise TypstExportError(f"pandoc was not found: {err}\nFix: pip install --force-reinstall pypandoc_binary") from err


def run_pandoc(markdown: str, token: str = "") -> tuple[str, list[str]]:
    """Convert one Markdown document to Typst; also return the TeX snippets pandoc could not convert.

    ``token`` is put in front of every image path (see :func:`replace_images`).
    """
    command = [pandoc_path(), "--from", MARKDOWN_FORMAT, *PANDOC_ARGS]
    env = {**os.environ, "NB_TYPST_IMAGE_TOKEN": token}
    try:
        done = subprocess.run(command, input=markdown.encode("utf-8"), capture_output=True, check=False, timeout=300, env=env)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise TypstExportError(f"pandoc could not convert the notebook's Markdown: {err}") from err
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise TypstExportError(f"pandoc could not convert the notebook's Markdown:\n{stderr.strip()}")
    unconverted = list(dict.fromkeys(m.group(1) for m in _UNCONVERTED_MATH.finditer(stderr)))
    return done.stdout.decode("utf-8"), unconverted


def _new_token(pieces: list[str]) -> str:
    while True:
        token = "TYPST" + secrets.token_hex(8)
        if not any(token in piece for piece in pieces):
            return token


def markdown_to_typst(pieces: list[str], resolve_image=None, cache_dir: Path | None = None) -> tuple[list[str], list[str]]:
    """Typst for each Markdown string of ``pieces``, in one pandoc run when possible.

    ``resolve_image(path)`` gives the path under which an image will be found
    at compile time, or None when it cannot be (see :func:`replace_images`);
    by default paths stay as written. With ``cache_dir``, conversions are kept
    there and reused (see :class:`ConversionCache`). Returns the converted
    pieces and the TeX snippets left as text because pandoc could not read them.
    """
    pieces = [piece.replace("\x00", "") for piece in pieces]  # NUL marks image paths below
    cache = ConversionCache(cache_dir) if cache_dir is not None else None
    converted: list[str | None] = [cache.get(piece) if cache else None for piece in pieces]
    missing = [i for i, text in enumerate(converted) if text is None]
    unconverted: list[str] = []
    if missing:
        todo = [pieces[i] for i in missing]
        token = _new_token(todo)
        results, unconverted = _convert(todo, token)
        for i, text in zip(missing, results):
            converted[i] = text
            if cache and not unconverted:  # a failed formula cannot be told apart: then keep nothing
                cache.put(pieces[i], text, token)
    converted = fix_links(converted)
    converted = [replace_images(text, resolve_image or (lambda path: path)) for text in converted]
    return converted, unconverted


def _convert(pieces: list[str], token: str) -> tuple[list[str], list[str]]:
    joined = "".join(f"{piece}\n\n{token}x{i}\n\n" for i, piece in enumerate(pieces))
    typst, unconverted = run_pandoc(joined, token)
    parts = re.split(rf"^{token}x(\d+)[ \t]*$\n?", typst, flags=re.M)
    # parts = [text0, "0", text1, "1", ..., rest]: each text followed by its separator's number
    if parts[1::2] == [str(i) for i in range(len(pieces))] and not parts[-1].strip():
        converted = [text.strip("\n") for text in parts[0:-1:2]]
    else:  # a separator was swallowed (an unclosed code fence or HTML comment): one run per piece
        converted, unconverted = [], []
        for piece in pieces:
            text, missed = run_pandoc(piece, token)
            converted.append(text.strip("\n"))
            unconverted += missed
    return [_image_mark_pattern(token).sub(_IMAGE_MARK, text) for text in converted], list(dict.fromkeys(unconverted))


#: What image paths start with in converted pieces (the random token of the pandoc run, made fixed;
#: it stands only right after `image("`, where pandoc's writer never puts text of its own).
_IMAGE_MARK = 'image("\x00'


def _image_mark_pattern(token: str) -> re.Pattern:
    return re.compile(r'image\("' + re.escape(token))


class ConversionCache:
    """Markdown pieces already converted, as files named by a hash of the piece and of the converter.

    The key covers the piece, the pandoc binary (path, size, time), the filter
    and the options, so any change of them converts again. Re-exporting a
    notebook whose Markdown did not change then needs no pandoc run.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        binary = Path(pandoc_path())
        stat = binary.stat()
        self.salt = content_hash(str(binary), str(stat.st_size), str(stat.st_mtime_ns), MARKDOWN_FORMAT,
                                 *PANDOC_ARGS, LUA_FILTER.read_bytes())

    def _path(self, piece: str) -> Path:
        return self.directory / content_hash(self.salt, piece.encode("utf-8", "surrogatepass"))

    def get(self, piece: str) -> str | None:
        try:
            return self._path(piece).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def put(self, piece: str, text: str, token: str) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(self._path(piece), lambda tmp: tmp.write_text(text, encoding="utf-8"))
        except OSError:
            pass  # a cache that cannot be written is no cache, not an error


def default_cache_dir() -> Path:
    """``<temporary directory>/nbconvert-typst-<user>``: per user, gone after a reboot."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"nbconvert-typst-{user}"


_LABEL_DEF = re.compile(r"(?<![\\\w(])<([\w:.\-]+)>")
_LABEL_LINK = re.compile(r"#link\(<([\w:.\-]+)>\)")


_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"})
_DROPPED_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def typst_string(text: str) -> str:
    """``text`` as a Typst string literal (control characters other than newline and tab dropped)."""
    return '"' + _DROPPED_CONTROLS.sub("", text).translate(_STRING_ESCAPES) + '"'


def unescape_typst_string(body: str) -> str:
    """The text of a Typst string literal, given what stands between its quotes."""
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}

    def one(match: re.Match) -> str:
        escaped = match.group(1)
        if escaped.startswith("u{"):
            return chr(int(escaped[2:-1], 16))
        return simple.get(escaped, escaped)

    return re.sub(r"\\(u\{[0-9a-fA-F]+\}|.)", one, body)


def fix_links(pieces: list[str]) -> list[str]:
    """Links to a label that is not defined exactly once would not compile: they become links to ``#label``."""
    defined: dict[str, int] = {}
    for piece in pieces:
        for match in _LABEL_DEF.finditer(piece):
            defined[match.group(1)] = defined.get(match.group(1), 0) + 1

    def one(match: re.Match) -> str:
        return match.group(0) if defined.get(match.group(1)) == 1 else f'#link("#{match.group(1)}")'

    return [_LABEL_LINK.sub(one, piece) for piece in pieces]


def replace_images(typst: str, resolve) -> str:
    """Rewrite each image path of a converted piece: ``resolve(path)`` gives the path to use.

    None (a web address, a missing file) turns the call into ``nb-missing-image("path", ...)``,
    which the template defines: it shows the address instead of failing the compilation.
    """

    def one(match: re.Match) -> str:
        path = unescape_typst_string(match.group(1))
        new = resolve(path)
        if new is None:
            return f"nb-missing-image({typst_string(path)}"
        return f"image({typst_string(new)}"

    return _MARKED_IMAGE.sub(one, typst)


_MARKED_IMAGE = re.compile(r'image\("\x00((?:[^"\\]|\\.)*)"')
