"""Instructor-side code of the workbook: it never ships to students.

Reference solutions of the exercises, reference models and solution-like
training loops live here, so that ``helpers/`` (which students get) holds
nothing that answers an exercise. ``make release`` leaves this package out;
the tests that need it are in ``tests/instructor/``.
"""
