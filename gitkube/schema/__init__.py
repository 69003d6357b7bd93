"""gitkube.schema."""
