"""gitkube.runtime."""
