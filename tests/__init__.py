"""The test suite, a package tree: every test module and helper has one full name
(``tests.api.server.serving``), the same for pytest and for mypy."""
