"""Tests of the workbook; ``tests.instructor`` holds those that need the solved notebooks."""
