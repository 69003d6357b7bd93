"""The kubelet: runs the pods bound to its node on a ContainerRuntime."""
