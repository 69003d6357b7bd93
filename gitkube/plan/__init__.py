"""gitkube.plan."""
