"""securityContext merging and the kubelet's checks (pure; Podman: test_kubelet_podman.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.kubelet.security import container_security, needs_image_user, own_volumes
from gitkube.agents.kubelet.volumes import ContainerConfigError
from gitkube.runtime.base import Security


def pod(pod_sc: dict[str, Any] | None = None, **container_sc: Any) -> tuple[dict[str, Any],
                                                                          dict[str, Any]]:
    container = {"name": "c", "image": "img", "securityContext": container_sc or None}
    return ({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
             "spec": {"securityContext": pod_sc or {}, "containers": [container]}}, container)


def test_no_security_context_asks_for_nothing(tmp_path: Path) -> None:
    p, c = pod()
    assert container_security(p, c, seccomp_root=tmp_path) == Security()
    assert not needs_image_user(p, c)


def test_the_container_wins_over_the_pod_and_groups_come_from_the_pod(tmp_path: Path) -> None:
    p, c = pod({"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000, 5000],
                "fsGroup": 2000, "seccompProfile": {"type": "Unconfined"}},
               runAsUser=1001, seccompProfile={"type": "RuntimeDefault"}, privileged=True,
               capabilities={"add": ["net_admin", "CAP_SYS_TIME"], "drop": ["ALL"]},
               readOnlyRootFilesystem=True, allowPrivilegeEscalation=False)
    sec = container_security(p, c, seccomp_root=tmp_path)
    assert sec == Security(user="1001:3000", groups=("4000", "5000", "2000"), privileged=True,
                           cap_add=("CAP_NET_ADMIN", "CAP_SYS_TIME"), cap_drop=("ALL",),
                           read_only_root=True, no_new_privileges=True, seccomp="")
    p, c = pod({"seccompProfile": {"type": "Unconfined"}}, allowPrivilegeEscalation=True)
    sec = container_security(p, c, seccomp_root=tmp_path)
    assert sec.seccomp == "unconfined" and not sec.no_new_privileges


def test_run_as_group_alone_keeps_the_image_user(tmp_path: Path) -> None:
    p, c = pod({"runAsGroup": 3000})
    assert needs_image_user(p, c)
    assert container_security(p, c, seccomp_root=tmp_path, image_user="app").user == "app:3000"
    assert container_security(p, c, seccomp_root=tmp_path).user == "0:3000"


@pytest.mark.parametrize(("run_as", "image_user", "message"), [
    (0, "", "container's runAsUser breaks non-root policy (pod: p_ns(u1), container: c)"),
    (None, "", "container has runAsNonRoot and image will run as root"),
    (None, "root", "container has runAsNonRoot and image will run as root"),
    (None, "0:0", "container has runAsNonRoot and image will run as root"),
    (None, "app", "container has runAsNonRoot and image has non-numeric user (app), cannot "
                  "verify user is non-root"),
])
def test_run_as_non_root_is_refused_when_it_cannot_hold(
        tmp_path: Path, run_as: int | None, image_user: str, message: str) -> None:
    sc: dict[str, Any] = {"runAsNonRoot": True}
    if run_as is not None:
        sc["runAsUser"] = run_as
    p, c = pod(sc)
    with pytest.raises(ContainerConfigError) as info:
        container_security(p, c, seccomp_root=tmp_path, image_user=image_user)
    assert message in info.value.message


@pytest.mark.parametrize(("run_as", "image_user"), [(1000, ""), (None, "1000"),
                                                    (None, "1000:1000")])
def test_run_as_non_root_passes_for_a_non_root_user(tmp_path: Path, run_as: int | None,
                                                    image_user: str) -> None:
    sc: dict[str, Any] = {"runAsNonRoot": True}
    if run_as is not None:
        sc["runAsUser"] = run_as
    p, c = pod(sc)
    assert needs_image_user(p, c) == (run_as is None)
    sec = container_security(p, c, seccomp_root=tmp_path, image_user=image_user)
    assert sec.user == ("1000" if run_as else "")


def test_localhost_seccomp_profiles_live_under_the_kubelet_root(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "audit.json").write_text("{}")
    p, c = pod({"seccompProfile": {"type": "Localhost",
                                   "localhostProfile": "profiles/audit.json"}})
    assert container_security(p, c, seccomp_root=tmp_path).seccomp == \
        str(tmp_path / "profiles" / "audit.json")
    for name, error in (("missing.json", "does not exist"), ("../etc/x", "relative path"),
                        ("", "relative path")):
        p, c = pod({"seccompProfile": {"type": "Localhost", "localhostProfile": name}})
        with pytest.raises(ContainerConfigError) as info:
            container_security(p, c, seccomp_root=tmp_path)
        assert error in info.value.message


def test_fs_group_owns_the_pods_volumes_but_not_host_paths(tmp_path: Path) -> None:
    gid = os.getgid() if os.geteuid() != 0 else 2000  # only root may give files away
    dirs = {name: tmp_path / name for name in ("scratch", "conf", "host")}
    for path in dirs.values():
        path.mkdir()
        (path / "file").write_text("x")
        (path / "file").chmod(0o400)
    p, _ = pod({"fsGroup": gid})
    p["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}},
                            {"name": "conf", "secret": {"secretName": "s"}},
                            {"name": "host", "hostPath": {"path": str(dirs["host"])}}]
    own_volumes(p, dirs)
    scratch, conf = dirs["scratch"].stat(), (dirs["conf"] / "file").stat()
    assert scratch.st_gid == gid and scratch.st_mode & stat.S_ISGID
    assert stat.S_IMODE((dirs["scratch"] / "file").stat().st_mode) == 0o660
    assert conf.st_gid == gid and stat.S_IMODE(conf.st_mode) == 0o440
    assert stat.S_IMODE((dirs["host"] / "file").stat().st_mode) == 0o400  # left alone
