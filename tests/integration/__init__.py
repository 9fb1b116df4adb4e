"""Integration tests: real processes, real databases, real migrations."""
