"""Shared code of the Deep Learning II workbook.

Modules (import the one you need; importing the package itself is cheap and
pulls in neither torch nor matplotlib, so the build tools start fast):

- ``paths``    every path the workbook uses, in one place
- ``data``     loading the shipped data sets, checksum-verified
- ``runtime``  seeding and choosing the device
- ``checks``   the checks that exercises end with (print PASS/FAIL, raise on FAIL)
- ``results``  writing a notebook's key figures to ``build/results/<name>.json``
- ``build``    executing notebooks and exporting the submission PDF
"""

__all__ = ["paths", "data", "runtime", "checks", "results"]
