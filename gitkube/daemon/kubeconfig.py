"""A kubeconfig for the running daemon: kubectl and the Kubernetes clients use it as is.

``build_kubeconfig(server, ca_pem, token, user)`` is pure: one cluster (``server``,
``certificate-authority-data`` = base64 of the CA's PEM), one user with the bearer
``token``, one context and ``current-context`` — all named ``gitkube`` except the user,
which keeps its name from the tokens file.
"""

from __future__ import annotations

import base64
from io import StringIO
from typing import Any

CLUSTER = "gitkube"


def build_kubeconfig(server: str, ca_pem: bytes | None, token: str, user: str,
                     *, namespace: str | None = None, name: str = CLUSTER) -> dict[str, Any]:
    """The kubeconfig document (see the module docstring)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode("ascii")
    context: dict[str, Any] = {"cluster": name, "user": user}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }


def render_yaml(doc: dict[str, Any]) -> str:
    """The document as YAML (block style, keys in the order built)."""
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip dumper: keeps the order built
    yaml.default_flow_style = False
    buf = StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()
