"""The workbook's build tool: executes, checks, exports and packages the notebooks.

Run it as ``python -m workbook COMMAND`` (the Makefile's targets call exactly
that). It imports the notebooks' library, :mod:`helpers`, and never the other
way round. Modules:

- ``cli``         arguments only; the one entry point
- ``commands``    the pipelines: run, check, pdf, zip, blank
- ``execute``     executing notebooks (papermill, in parallel, incremental)
- ``events``      progress as data, and the one place that prints it
- ``check``       the pre-submission check and its report
- ``export``      one executed notebook to PDF: engine choice, the LaTeX engine
- ``typst/``      the Typst engine (an nbconvert exporter; the default)
- ``chromium``    the Chromium engine
- ``marking``     the notes a partial submission puts at unfinished exercises
- ``submission``  names, the merged submission PDF (and a stale one), the zip
- ``exercises``   solution and answer regions; blanking them
- ``blank``       the blank notebooks (``make blank``)
- ``release``     the student edition (``make release``)
- ``environment`` a copied or moved folder runs its own code and data
- ``iorw``        reading and writing the build's files
- ``errors``      every error a user can see
- ``lab``         JupyterLab set-up and start
- ``bench``       the benchmark (``make bench``)
- ``portability`` the checks over simulated machines (``make portability``)
"""
