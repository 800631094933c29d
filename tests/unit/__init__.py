"""Unit tests: pure functions and objects, no socket and no running session."""
