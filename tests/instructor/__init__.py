"""Tests that need a solution: solved notebooks, mistake injection, reference models."""
