"""Helpers shared by every layer of the test suite (no tests here)."""
