"""Pod volumes and container environment: what a container sees besides its image.

Volumes live under the kubelet's directory (``<root>/pods/<uid>/volumes/<name>``), except
hostPath (the host path itself) and persistentVolumeClaim (``<root>/claims/<namespace>/
<claim>``: one directory per claim, kept when pods come and go). configMap and secret volumes
are written as files (``items`` select and rename keys; ``defaultMode``/``mode`` apply) and
rewritten when their source changes. A missing source that is not ``optional`` raises
``ContainerConfigError`` (the container waits with reason CreateContainerConfigError, as
upstream).

``resolve_env`` gives a container's environment: ``envFrom`` (configMapRef, secretRef, with
``prefix``), then ``env`` (value with ``$(VAR)`` expansion; valueFrom configMapKeyRef,
secretKeyRef, fieldRef metadata.name/namespace/uid/labels/annotations, spec.nodeName,
spec.serviceAccountName, status.podIP, status.hostIP; resourceFieldRef limits/requests of
cpu, memory and ephemeral-storage with a divisor).
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gitkube.errors import GitkubeError, NotFound
from gitkube.model.quantity import parse_quantity
from gitkube.runtime.base import Mount

Obj = dict[str, Any]
Getter = Callable[[str, str, str], Obj | None]  # (kind, namespace, name) -> object or None


class ContainerConfigError(GitkubeError):
    """A container cannot be configured yet (missing ConfigMap, Secret or key): it waits
    with reason CreateContainerConfigError, as upstream."""


def getter_for(client: Any) -> Getter:
    """A ``Getter`` over a Client (None for a missing object)."""

    def get(kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return dict(client.get("v1", kind, namespace, name))
        except NotFound:
            return None

    return get


def _source_data(kind: str, obj: Obj) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if kind == "Secret":
        for k, v in (obj.get("data") or {}).items():
            out[k] = base64.b64decode(str(v).replace("\n", ""))
        for k, v in (obj.get("stringData") or {}).items():
            out[k] = str(v).encode()
    else:
        for k, v in (obj.get("data") or {}).items():
            out[k] = str(v).encode()
        for k, v in (obj.get("binaryData") or {}).items():
            out[k] = base64.b64decode(str(v))
    return out


def _write_if_changed(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode:
            return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    tmp.replace(path)


Files = dict[str, tuple[bytes, int]]  # path in the volume -> (content, mode)


def _source_files(kind: str, source: Obj, namespace: str, get: Getter,
                  default_mode: int) -> Files:
    """The files a configMap or secret source projects (``items`` or every key)."""
    name = str(source.get("name") if kind == "ConfigMap" else
               source.get("secretName") or source.get("name"))
    obj = get(kind, namespace, name)
    optional = bool(source.get("optional"))
    if obj is None:
        if not optional:
            raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
        return {}
    data = _source_data(kind, obj)
    items = source.get("items")
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    wanted: Files = {}
    for item in items:
        key = str(item.get("key"))
        if key not in data:
            if optional:
                continue
            raise ContainerConfigError(f'couldn\'t find key {key} in {kind} {namespace}/{name}')
        wanted[str(item.get("path") or key)] = (data[key], int(item.get("mode", default_mode)))
    return wanted


def _downward_files(pod: Obj, source: Obj, default_mode: int,
                    allocatable: Mapping[str, str]) -> Files:
    """The files of a downwardAPI source: each item's fieldRef (metadata.name, namespace,
    uid, labels, annotations, one label or annotation) or resourceFieldRef (containerName
    required), as upstream formats them."""
    wanted: Files = {}
    for item in source.get("items") or []:
        path = str(item.get("path"))
        if path.startswith("/") or ".." in Path(path).parts:
            raise ContainerConfigError(f"downwardAPI path {path!r} must be relative, inside the "
                                       "volume")
        if item.get("fieldRef"):
            field = str(item["fieldRef"].get("fieldPath"))
            if not field.startswith("metadata."):
                raise ContainerConfigError(f"downwardAPI volumes take metadata fields only, not "
                                           f"{field}")
            text = field_ref(pod, field, pod_ip="", host_ip="")
        elif item.get("resourceFieldRef"):
            ref = item["resourceFieldRef"]
            if not ref.get("containerName"):
                raise ContainerConfigError(f"downwardAPI {path}: resourceFieldRef needs "
                                           "containerName")
            text = resource_field_ref(pod, {}, ref, allocatable)
        else:
            raise ContainerConfigError(f"downwardAPI {path}: neither fieldRef nor resourceFieldRef")
        wanted[path] = (text.encode(), int(item.get("mode", default_mode)))
    return wanted


def _sync_dir(target: Path, wanted: Files) -> None:
    """Make ``target`` hold exactly ``wanted`` (files rewritten only when they change)."""
    target.mkdir(parents=True, exist_ok=True)
    for rel, (content, file_mode) in wanted.items():
        _write_if_changed(target / rel, content, file_mode & 0o777)
    for path in sorted(target.rglob("*"), reverse=True):
        rel = path.relative_to(target).as_posix()
        if path.is_file() and rel not in wanted:
            path.unlink()


def _projected_files(pod: Obj, source: Obj, namespace: str, get: Getter,
                     allocatable: Mapping[str, str]) -> Files:
    mode = int(source.get("defaultMode", 0o644))
    wanted: Files = {}
    for part in source.get("sources") or []:
        if part.get("configMap"):
            wanted.update(_source_files("ConfigMap", part["configMap"], namespace, get, mode))
        elif part.get("secret"):
            wanted.update(_source_files("Secret", part["secret"], namespace, get, mode))
        elif part.get("downwardAPI"):
            wanted.update(_downward_files(pod, part["downwardAPI"], mode, allocatable))
        else:
            raise ContainerConfigError(f"projected volume source {sorted(part)} is not supported "
                                       f"(configMap, secret, downwardAPI)")
    return wanted


def claim_dir(root: Path, namespace: str, claim: str) -> Path:
    return root / "claims" / namespace / claim


def remove_claim_dir(root: Path, namespace: str, claim: str) -> None:
    """Delete a claim's data (the claim object is gone)."""
    shutil.rmtree(claim_dir(root, namespace, claim), ignore_errors=True)


def prepare_volumes(pod: Obj, root: Path, get: Getter,
                    allocatable: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Create or refresh every volume of ``pod``; returns volume name -> host path."""
    meta = pod.get("metadata") or {}
    uid = str(meta.get("uid"))
    namespace = str(meta.get("namespace") or "default")
    base = root / "pods" / uid / "volumes"
    paths: dict[str, Path] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        name = str(vol.get("name"))
        if "hostPath" in vol:
            paths[name] = _host_path(vol["hostPath"])
        elif "persistentVolumeClaim" in vol:
            paths[name] = _claim_volume(root, namespace, vol["persistentVolumeClaim"])
        elif "configMap" in vol or "secret" in vol:
            kind, source = ("ConfigMap", vol["configMap"]) if "configMap" in vol else \
                ("Secret", vol["secret"])
            path = base / name
            _sync_dir(path, _source_files(kind, source, namespace, get,
                                          int(source.get("defaultMode", 0o644))))
            paths[name] = path
        elif "downwardAPI" in vol:
            path = base / name
            source = vol["downwardAPI"] or {}
            _sync_dir(path, _downward_files(pod, source, int(source.get("defaultMode", 0o644)),
                                            allocatable or {}))
            paths[name] = path
        elif "projected" in vol:
            path = base / name
            _sync_dir(path, _projected_files(pod, vol["projected"] or {}, namespace, get,
                                             allocatable or {}))
            paths[name] = path
        else:  # emptyDir, and kinds without a host meaning here
            paths[name] = _empty_dir(base / name, vol.get("emptyDir") or {})
    return paths


def _host_path(source: Obj) -> Path:
    """A hostPath volume's path, created or checked as its ``type`` says."""
    path = Path(str(source.get("path")))
    kind = source.get("type") or ""
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    elif kind in ("Directory", "File") and not path.exists():
        raise ContainerConfigError(f"hostPath {path} does not exist")
    return path


def _claim_volume(root: Path, namespace: str, source: Obj) -> Path:
    """A claim's data directory, created on first use."""
    path = claim_dir(root, namespace, str(source.get("claimName")))
    if not path.exists():  # world-writable, like upstream's local provisioners
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)
    return path


def _empty_dir(path: Path, empty_dir: Obj) -> Path:
    """An emptyDir at ``path`` (a tmpfs for ``medium: Memory``)."""
    if not path.exists():  # 0777 as upstream: any runAsUser may write to it
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)
    if empty_dir.get("medium") == "Memory":
        _mount_tmpfs(path, empty_dir.get("sizeLimit"))
    return path


def _mount_tmpfs(path: Path, size_limit: Any) -> None:
    """``emptyDir.medium: Memory``: a tmpfs on the volume's host directory (shared by the
    pod's containers, as upstream), sized by ``sizeLimit`` when set. Mounted once."""
    if os.path.ismount(path):
        return
    options = "mode=0777"
    if size_limit:
        try:
            options += f",size={parse_quantity(size_limit).to_int()}"
        except ValueError as e:
            raise ContainerConfigError(f"emptyDir sizeLimit {size_limit!r}: {e}") from e
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise ContainerConfigError(f"emptyDir medium Memory: cannot mount a tmpfs: {e}") from e
    if done.returncode != 0:
        raise ContainerConfigError(f"emptyDir medium Memory: cannot mount a tmpfs on {path}: "
                                   f"{done.stderr.strip() or done.returncode}")


def _unmount_all(base: Path) -> None:
    """Unmount the tmpfs volumes under ``base`` (lazily when still busy)."""
    if not base.is_dir():
        return
    for path in sorted(base.iterdir()):
        if os.path.ismount(path):
            done = subprocess.run(["umount", str(path)], capture_output=True, timeout=30)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def remove_pod_dir(root: Path, uid: str) -> None:
    """Delete a pod's own volumes (emptyDir, projected files); claims are kept. Memory
    emptyDirs are unmounted first."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        _unmount_all(root / "pods" / uid / "volumes")
    shutil.rmtree(root / "pods" / uid, ignore_errors=True)


def container_mounts(container: Mapping[str, Any], volumes: Mapping[str, Path]) -> tuple[
        Mount, ...]:
    """Bind mounts for ``container``'s volumeMounts (subPath resolved inside the volume)."""
    mounts: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        name = str(vm.get("name"))
        if name not in volumes:
            raise ContainerConfigError(f'volume "{name}" is not defined in the pod')
        source = volumes[name]
        sub = str(vm.get("subPath") or "")
        if sub:
            if sub.startswith("/") or ".." in Path(sub).parts:
                raise ContainerConfigError(f"subPath {sub!r} must be a relative path inside the "
                                           "volume")
            source = source / sub
            if not source.exists():
                source.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(source=str(source), target=str(vm.get("mountPath")),
                            read_only=bool(vm.get("readOnly"))))
    return tuple(mounts)


_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known variables replaced, ``$$`` -> ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _VAR.sub(sub, text)


def field_ref(pod: Obj, path: str, *, pod_ip: str, host_ip: str) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "status.podIP": pod_ip,
        "status.hostIP": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        return "\n".join(f'{k}="{v}"' for k, v in sorted((meta.get(path[9:]) or {}).items()))
    raise ContainerConfigError(f"unsupported fieldRef {path}")


def _key_ref(kind: str, ref: Mapping[str, Any], namespace: str, get: Getter) -> str | None:
    name = str(ref.get("name"))
    key = str(ref.get("key"))
    obj = get(kind, namespace, name)
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
    data = _source_data(kind, obj)
    if key not in data:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key].decode(errors="replace")


_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def resource_field_ref(pod: Obj, container: Mapping[str, Any], ref: Mapping[str, Any],
                       allocatable: Mapping[str, str]) -> str:
    """``valueFrom.resourceFieldRef`` as upstream computes it: the container's (or
    ``containerName``'s) limit or request, divided by ``divisor`` (default 1) and rounded up.
    A limit not set is the node's allocatable; a request not set is the limit when one is
    set, else 0."""
    name = str(ref.get("containerName") or container.get("name"))
    spec = pod.get("spec") or {}
    target = next((c for c in [*(spec.get("containers") or []),
                               *(spec.get("initContainers") or [])]
                   if c.get("name") == name), None)
    if target is None:
        raise ContainerConfigError(f'resourceFieldRef: no container "{name}" in the pod')
    kind, _, resource = str(ref.get("resource") or "").partition(".")
    if kind not in ("limits", "requests") or resource not in _RESOURCES:
        raise ContainerConfigError(f"resourceFieldRef: unsupported resource "
                                   f"{ref.get('resource')!r} (limits or requests of "
                                   f"{', '.join(_RESOURCES)})")
    resources = target.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    if kind == "limits":
        text = limits.get(resource) or allocatable.get(resource) or "0"
    else:
        text = requests.get(resource) or limits.get(resource) or "0"
    try:
        value = parse_quantity(text)
        divisor = parse_quantity(ref.get("divisor") or "1")
    except ValueError as e:
        raise ContainerConfigError(f"resourceFieldRef {ref.get('resource')}: {e}") from e
    if divisor.value <= 0:
        raise ContainerConfigError(f"resourceFieldRef {ref.get('resource')}: divisor must be "
                                   "positive")
    return str(math.ceil(value.value / divisor.value))


def resolve_env(pod: Obj, container: Mapping[str, Any], get: Getter, *, pod_ip: str,
                host_ip: str, allocatable: Mapping[str, str] | None = None) -> dict[str, str]:
    """The container's environment (see the module docstring)."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    env = _env_from(container, namespace, get)
    for item in container.get("env") or []:
        name = str(item.get("name"))
        if "valueFrom" in item:
            value = _value_from(pod, container, item["valueFrom"] or {}, get,
                                pod_ip=pod_ip, host_ip=host_ip, allocatable=allocatable or {})
            if value is not None:
                env[name] = value
        else:
            env[name] = expand(str(item.get("value") or ""), env)
    return env


def _env_from(container: Mapping[str, Any], namespace: str, get: Getter) -> dict[str, str]:
    """The variables of a container's ``envFrom``: every key of its ConfigMaps and Secrets."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(field)
            if not ref:
                continue
            obj = get(kind, namespace, str(ref.get("name")))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'{kind.lower()} "{ref.get("name")}" not found')
            for k, v in _source_data(kind, obj).items():
                env[prefix + k] = v.decode(errors="replace")
    return env


def _value_from(pod: Obj, container: Mapping[str, Any], vf: Mapping[str, Any], get: Getter,
                *, pod_ip: str, host_ip: str, allocatable: Mapping[str, str]) -> str | None:
    """An env variable's ``valueFrom``; None: an optional key that is not there."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    if "fieldRef" in vf:
        return field_ref(pod, str(vf["fieldRef"].get("fieldPath")), pod_ip=pod_ip,
                         host_ip=host_ip)
    if "configMapKeyRef" in vf:
        return _key_ref("ConfigMap", vf["configMapKeyRef"], namespace, get)
    if "secretKeyRef" in vf:
        return _key_ref("Secret", vf["secretKeyRef"], namespace, get)
    if "resourceFieldRef" in vf:
        return resource_field_ref(pod, container, vf["resourceFieldRef"], allocatable)
    return ""
