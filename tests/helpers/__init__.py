"""Test helpers (imported by tests and conftest fixtures; conftest files hold fixtures only)."""
