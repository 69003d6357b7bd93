"""gitkube.agents."""
