"""The workbook's build tool: executes, checks, exports and packages the notebooks.

Run it as ``python -m workbook COMMAND`` (the Makefile's targets call exactly
that). It imports the notebooks' library, :mod:`helpers`, and never the other
way round. Modules:

- ``cli``         arguments only; the one entry point
- ``commands``    the pipelines: run, check, pdf, zip, blank
- ``execute``     executing notebooks (papermill, in parallel, incremental)
- ``events``      progress as data, and the one place that prints it
- ``check``       the pre-submission check and its report
- ``export``      one executed notebook to PDF (Typst, LaTeX or Chromium)
- ``submission``  names, the merged submission PDF, the zip
- ``exercises``   solution and answer regions; blanking them
- ``blank``       the student copies
- ``iorw``        reading and writing the build's files
- ``errors``      every error a user can see
- ``lab``         JupyterLab set-up and start
- ``bench``       the benchmark (``make bench``)
"""
