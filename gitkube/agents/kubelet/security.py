"""securityContext: the pod's and the container's, merged as Kubernetes does, for the runtime.

- ``runAsUser``, ``runAsGroup``, ``runAsNonRoot``, ``seccompProfile``: the container's value
  wins over the pod's.
- Pod only: ``supplementalGroups`` and ``fsGroup`` (both become supplementary groups;
  ``fsGroup`` also owns the pod's volumes: ``own_volumes``).
- Container only: ``privileged``, ``capabilities`` (add/drop, names with or without
  ``CAP_``), ``readOnlyRootFilesystem``, ``allowPrivilegeEscalation: false``
  (no_new_privileges).
- ``seccompProfile``: ``RuntimeDefault`` (Podman's default profile), ``Unconfined``, or
  ``Localhost`` with ``localhostProfile`` relative to ``<kubelet root>/seccomp``. Without
  one, containers get the runtime's default profile, as with the kubelet's
  ``seccompDefault: true``. Upstream's plain default is Unconfined.
- ``runAsNonRoot: true`` is checked before the container is created, with the kubelet's
  own messages: a ``runAsUser`` of 0, an image that runs as root (no USER, ``0``, ``root``)
  or as a user name that cannot be verified are each a ``CreateContainerConfigError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitkube.agents.kubelet.volumes import ContainerConfigError
from gitkube.runtime.base import Security

Obj = dict[str, Any]
_READ_ONLY = ("configMap", "secret", "downwardAPI", "projected")  # files the kubelet writes


def _merged(pod: Obj, container: Mapping[str, Any], key: str) -> Any:
    own = (container.get("securityContext") or {}).get(key)
    if own is not None:
        return own
    return ((pod.get("spec") or {}).get("securityContext") or {}).get(key)


def needs_image_user(pod: Obj, container: Mapping[str, Any]) -> bool:
    """Whether ``container_security`` must know the image's USER: runAsNonRoot to verify
    without a runAsUser, or a runAsGroup without a runAsUser."""
    if _merged(pod, container, "runAsUser") is not None:
        return False
    return bool(_merged(pod, container, "runAsNonRoot")) or \
        _merged(pod, container, "runAsGroup") is not None


def _seccomp(profile: Mapping[str, Any] | None, seccomp_root: Path) -> str:
    kind = str((profile or {}).get("type") or "RuntimeDefault")
    if kind == "Unconfined":
        return "unconfined"
    if kind == "Localhost":
        name = str((profile or {}).get("localhostProfile") or "")
        path = seccomp_root / name
        if not name or name.startswith("/") or ".." in Path(name).parts:
            raise ContainerConfigError(f"seccomp localhostProfile {name!r} must be a relative path "
                                       f"under {seccomp_root}")
        if not path.is_file():
            raise ContainerConfigError(f"seccomp profile {path} does not exist")
        return str(path)
    return ""


def _cap(name: Any) -> str:
    text = str(name).upper()
    return text if text == "ALL" or text.startswith("CAP_") else f"CAP_{text}"


def container_security(pod: Obj, container: Mapping[str, Any], *, seccomp_root: Path,
                       image_user: str = "") -> Security:
    """The runtime's Security for ``container`` of ``pod``; ContainerConfigError for what
    Kubernetes' kubelet refuses (runAsNonRoot that cannot hold, a missing seccomp profile)."""
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    own = container.get("securityContext") or {}
    meta = pod.get("metadata") or {}
    where = f"(pod: {meta.get('name')}_{meta.get('namespace')}({meta.get('uid')}), " \
            f"container: {container.get('name')})"
    uid = _merged(pod, container, "runAsUser")
    gid = _merged(pod, container, "runAsGroup")
    image_name = image_user.split(":", 1)[0]
    if _merged(pod, container, "runAsNonRoot"):
        if uid is not None:
            if int(uid) == 0:
                raise ContainerConfigError(f"container's runAsUser breaks non-root policy {where}")
        elif image_name in ("", "0", "root"):
            raise ContainerConfigError(f"container has runAsNonRoot and image will run as root "
                                       f"{where}")
        elif not image_name.isdigit():
            raise ContainerConfigError(f"container has runAsNonRoot and image has non-numeric user "
                                       f"({image_name}), cannot verify user is non-root {where}")
    user = ""
    if uid is not None:
        user = str(int(uid))
    if gid is not None:
        user = f"{user or image_name or '0'}:{int(gid)}"
    groups = [str(int(g)) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None and str(int(pod_sc["fsGroup"])) not in groups:
        groups.append(str(int(pod_sc["fsGroup"])))
    caps = own.get("capabilities") or {}
    return Security(
        user=user, groups=tuple(groups), privileged=bool(own.get("privileged")),
        cap_add=tuple(_cap(c) for c in caps.get("add") or []),
        cap_drop=tuple(_cap(c) for c in caps.get("drop") or []),
        read_only_root=bool(own.get("readOnlyRootFilesystem")),
        no_new_privileges=own.get("allowPrivilegeEscalation") is False,
        seccomp=_seccomp(_merged(pod, container, "seccompProfile"), seccomp_root))


def own_volumes(pod: Obj, volumes: Mapping[str, Path], owned: set[str] | None = None) -> None:
    """``fsGroup``: the pod's volumes belong to that group, as upstream's volume ownership
    does: emptyDir and claims group-writable (``rw-rw----`` added), configMap and secret
    group-readable (``r--r-----`` added; also downwardAPI and projected), directories
    setgid; hostPath is left alone. A writable volume is walked once per pod, like
    upstream's at mount time (``owned`` records the ones done; new files then inherit the
    group through setgid); the kubelet's own files (configMap, ...) on every call, since it
    rewrites them."""
    spec = pod.get("spec") or {}
    gid = (spec.get("securityContext") or {}).get("fsGroup")
    if gid is None:
        return
    for vol in spec.get("volumes") or []:
        name = str(vol.get("name"))
        root = volumes.get(name)
        if root is None or "hostPath" in vol:
            continue
        writable = not any(k in vol for k in _READ_ONLY)
        if writable and owned is not None and name in owned:
            continue
        mask = 0o660 if writable else 0o440
        for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
            if path.is_symlink():
                continue
            try:
                os.chown(path, -1, int(gid))
                mode = path.stat().st_mode
                os.chmod(path, mode | mask | (0o2110 if path.is_dir() else 0))
            except OSError as e:
                raise ContainerConfigError(f"fsGroup {gid}: cannot give {path} to the group: "
                                           f"{e.strerror}") from e
        if writable and owned is not None:
            owned.add(name)


__all__ = ["container_security", "needs_image_user", "own_volumes"]
