"""kubectl auth can-i / whoami answered by the daemon's own authorizer (SelfSubjectAccessReview,
SelfSubjectRulesReview, SelfSubjectReview), and the rules folding as a pure function."""

from __future__ import annotations

from pathlib import Path

from gitkube.api.server import reviews
from gitkube.api.server.auth import Attributes, Identity
from tests.daemon.daemon_env import RunningDaemon
from tests.surface.kubectl_daemon import kubectl_for


def test_can_i_as_admin_and_read_only(shared_daemon: RunningDaemon, tmp_path: Path) -> None:
    admin = kubectl_for(shared_daemon, tmp_path / "admin")
    assert admin.run("auth", "can-i", "create", "pods").stdout.strip() == "yes"
    assert admin.run("auth", "can-i", "delete", "secrets", "-n", "kube-system"
                     ).stdout.strip() == "yes"
    viewer = kubectl_for(shared_daemon, tmp_path / "viewer", "--user", "viewer", "--role",
                         "read-only")
    denied = viewer.run("auth", "can-i", "create", "pods", check=False)
    assert denied.returncode == 1 and denied.stdout.strip() == "no"
    assert viewer.run("auth", "can-i", "list", "deployments.apps").stdout.strip() == "yes"
    assert viewer.run("auth", "can-i", "get", "secrets", check=False).stdout.strip() == "no"
    assert viewer.run("auth", "can-i", "get", "/version").stdout.strip() == "yes"
    # the answer agrees with what the server then does
    refused = viewer.run("create", "configmap", "c", "--from-literal=a=b", check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr


def test_can_i_list_and_whoami(shared_daemon: RunningDaemon, tmp_path: Path) -> None:
    admin = kubectl_for(shared_daemon, tmp_path / "admin")
    listed = admin.run("auth", "can-i", "--list").stdout
    assert "*.*" in listed and "[*]" in listed
    who = admin.run("auth", "whoami").stdout
    assert "Username" in who and "gitkube:admin" in who
    viewer = kubectl_for(shared_daemon, tmp_path / "viewer", "--user", "reader", "--role",
                         "read-only")
    rows = viewer.run("auth", "can-i", "--list").stdout.splitlines()
    pods = next(r for r in rows if r.split()[0] == "pods")
    assert "[get list watch]" in pods
    assert not any(r.split()[0] == "secrets" for r in rows[1:])
    assert any("selfsubjectaccessreviews.authorization.k8s.io" in r and "[create]" in r
               for r in rows)
    who = viewer.run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    assert who == "reader"


class _OnlyPodsInTeamA:
    """An authorizer unlike the roles: it sees only the attributes, as RBAC would."""

    def authenticate(self, headers: object) -> Identity:
        return Identity("alice")

    def authorize(self, identity: Identity, verb: str, resource: Attributes) -> bool:
        return resource.resource == "pods" and resource.namespace == "team-a" and \
            resource.subresource in ("", "log") and verb in ("get", "list", "create")


def test_rules_come_from_the_authorizer_alone() -> None:
    auth = _OnlyPodsInTeamA()
    status = reviews.rules_status("team-a", Identity("alice"), auth)
    core = [r for r in status["resourceRules"] if r["apiGroups"] == [""]]
    assert {"verbs": ["create", "get", "list"], "apiGroups": [""],
            "resources": ["pods"]} in core
    assert {"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]} in core
    assert status["nonResourceRules"] == []
    elsewhere = reviews.rules_status("team-b", Identity("alice"), auth)
    assert all(r["apiGroups"] != [""] for r in elsewhere["resourceRules"])
    allowed = reviews.access_status({"resourceAttributes": {
        "verb": "create", "resource": "pods", "namespace": "team-a"}}, Identity("alice"), auth)
    assert allowed["allowed"] is True
    assert reviews.access_status({"resourceAttributes": {
        "verb": "delete", "resource": "pods", "namespace": "team-a"}}, Identity("alice"),
        auth) == {"allowed": False}
    assert reviews.rules_status("x", Identity("root"), None)["resourceRules"] == [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
