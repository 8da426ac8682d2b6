"""``python -m workbook``: see :mod:`workbook.cli`."""

from .cli import main

raise SystemExit(main())
