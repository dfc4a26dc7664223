"""Local stand-ins for external services, for tests that must run offline."""
