"""gitkube: a declarative GitOps engine that runs Kubernetes manifests on Podman."""

__version__ = "0.1.0"
