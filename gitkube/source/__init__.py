"""gitkube.source."""
