"""Shared code of the Deep Learning II workbook: what the notebooks import, and nothing else.

Modules (import the one you need; importing the package itself is cheap and
pulls in neither torch nor matplotlib):

- ``paths``        every path the workbook uses, in one place
- ``files``        atomic writes, hashes and JSON (the one implementation; the build tool uses it too)
- ``data``         loading the shipped data sets, checksum-verified (``make data`` rebuilds them)
- ``runtime``      seeding and choosing the device
- ``checks``       the checks that exercises end with (print PASS/FAIL, raise on FAIL)
- ``results``      writing a notebook's key figures to ``build/results/<name>.json``
- ``training``     Problem 1's training loop, accuracy, and running jobs side by side
- ``plots``        figure helpers
- ``inclass``      Problem 1's checks
- ``linear_relu``  Problem 2's experiments and checks
- ``mnist1d``      Problem 3's data handling and checks

The build tool is the separate package ``workbook``; it imports ``helpers``,
never the other way round (``tests/test_architecture.py`` guards this).
"""

__all__ = ["paths", "files", "data", "runtime", "checks", "results", "training", "plots",
           "inclass", "linear_relu", "mnist1d"]
