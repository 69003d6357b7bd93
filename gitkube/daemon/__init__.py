"""The long-lived control plane: ``gitkube serve`` and its files (docs/DAEMON.md).

daemon.py runs it (API server + agents over one store); listen.py, tls.py, tokens.py and
redact.py hold the security model; state.py, paths.py and status.py the files in the state
directory and what they say; kubeconfig.py the kubeconfig for kubectl.
"""
