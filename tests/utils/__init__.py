"""Helpers shared by the tests (one place, never copied between test files)."""
