"""Shared test configuration. Fixture plugins live in tests/fixtures/."""

pytest_plugins: list[str] = []
