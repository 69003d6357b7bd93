"""gitkube.gitops."""
