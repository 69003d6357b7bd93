"""gitkube.api."""
