"""`gitkube watch` as a real process on a real git work tree: file edits, invalid edits,
drift in the store, git HEAD moves, --once, notify, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.api.client import Client, WatchEvent
from gitkube.gitops.watch import Trigger, Triggers, fingerprint
from tests.gitops.gitops_env import GITKUBE, deployment, get_or_none, run, wait_for
from tests.gitrepo import GitRepo


class Watch:
    def __init__(self, proc: subprocess.Popen[str], log: Path):
        self.proc, self.log = proc, log

    def text(self) -> str:
        return self.log.read_text()

    def saw(self, needle: str, timeout: float = 15.0) -> str:
        return str(wait_for(lambda: needle in self.text() and self.text(), timeout,
                            what=f"{needle!r} in the watch log"))


@pytest.fixture
def work(git_repo: Callable[..., GitRepo]) -> Path:
    repo = git_repo("app")
    repo.commit("web", {"manifests/web.yaml": deployment(replicas=2)})
    return Path(repo.root)


@pytest.fixture
def watch(work: Path, tmp_path: Path, store_url: str) -> Iterator[Watch]:
    log = tmp_path / "watch.log"
    notify = tmp_path / "notify.jsonl"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [GITKUBE, "watch", "manifests", "--store", store_url, "--agents", "none",
             "--interval", "3", "--debounce", "100", "--notify-command", f"cat >> {notify}"],
            cwd=work, stdout=out, stderr=subprocess.STDOUT, text=True)
    w = Watch(proc, log)
    try:
        w.saw("watching")
        yield w
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def replicas(client: Client) -> int | None:
    obj = get_or_none(client, "Deployment", "web")
    return int(obj["spec"]["replicas"]) if obj else None


def edit(work: Path, text: str) -> None:
    path = work / "manifests" / "web.yaml"
    tmp = path.with_suffix(".new")  # editors save by rename; a temp name that is no manifest
    tmp.write_text(text)
    tmp.rename(path)


def test_watch_applies_rejects_heals_and_stops(watch: Watch, work: Path, client: Client,
                                               tmp_path: Path) -> None:
    wait_for(lambda: replicas(client) == 2, what="the first apply")
    edit(work, deployment(replicas=3))
    wait_for(lambda: replicas(client) == 3, what="the edit applied")
    watch.saw("spec.replicas: 2 -> 3")

    # an invalid edit: reported with its diagnostics, nothing applied, last good state stays
    history = len(json.loads(run([GITKUBE, "history", "-o", "json"], work).stdout))
    edit(work, deployment(replicas="three"))
    watch.saw("invalid")
    watch.saw("web.yaml:7:3: Deployment/web: must be an integer")
    assert replicas(client) == 3
    assert len(json.loads(run([GITKUBE, "history", "-o", "json"], work).stdout)) == history
    # drift while the files are invalid: healed from the last good state
    client.update_scale("apps/v1", "Deployment", "default", "web", 6)
    watch.saw("re-applying the last good state (the files are invalid now)")
    wait_for(lambda: replicas(client) == 3, what="healed to the last good state")

    edit(work, deployment(replicas=1))
    wait_for(lambda: replicas(client) == 1, what="the fixed edit applied")

    # drift: scaled by hand, then deleted by hand; both healed from git within seconds
    client.update_scale("apps/v1", "Deployment", "default", "web", 5)
    watch.saw("drift: Deployment default/web was changed outside git")
    wait_for(lambda: replicas(client) == 1, what="the scale healed")
    watch.saw("spec.replicas: 5 -> 1 (drift)")
    client.delete("apps/v1", "Deployment", "default", "web")
    watch.saw("drift: Deployment default/web was deleted outside git")
    wait_for(lambda: replicas(client) == 1, what="the deletion healed")

    # a commit without file changes moves HEAD: reconciled and recorded as synced to it
    run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam",
         "replicas 1"], work)
    head = run(["git", "rev-parse", "HEAD"], work).stdout.strip()
    watch.saw("git HEAD moved")
    watch.saw(f"unchanged {head[:12]}")

    # notify got one JSON document per apply or refusal
    events = [json.loads(line) for line in (tmp_path / "notify.jsonl").read_text()
              .splitlines()]
    outcomes = [e["outcome"] for e in events]
    assert outcomes.count("invalid") == 1 and "applied" in outcomes
    invalid = next(e for e in events if e["outcome"] == "invalid")
    assert invalid["diagnostics"][0]["file"] == "web.yaml"
    assert any(e["drifted"] == ["Deployment default/web"] for e in events)

    watch.proc.send_signal(signal.SIGTERM)
    assert watch.proc.wait(15) == 0
    assert "the cluster stays as it is" in watch.text()
    assert replicas(client) == 1  # stopping changes nothing


def test_watch_once(work: Path, client: Client, store_url: str) -> None:
    proc = run([GITKUBE, "watch", "manifests", "--once", "--store", store_url], work)
    assert "applied" in proc.stdout and "create Deployment default/web" in proc.stdout
    assert replicas(client) == 2
    (work / "manifests" / "web.yaml").write_text(deployment(replicas="x"))
    proc = run([GITKUBE, "watch", "manifests", "--once", "--store", store_url], work,
               check=False)
    assert proc.returncode == 1 and "must be an integer" in proc.stdout
    assert replicas(client) == 2


def test_watch_runs_the_agents_without_a_daemon(work: Path, client: Client, store_url: str,
                                                tmp_path: Path) -> None:
    log = tmp_path / "agents.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [GITKUBE, "watch", "manifests", "--store", store_url, "--agents", "simulated",
             "--interval", "0"], cwd=work, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        def running() -> bool:
            pods = client.list("v1", "Pod", "default").items
            return bool(sum(p["status"].get("phase") == "Running" for p in pods) == 2)

        wait_for(running, timeout=30, what="2 pods Running")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "agents running in this process" in log.read_text()


BARE_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: solo, namespace: default}
spec:
  terminationGracePeriodSeconds: 17
  containers: [{name: main, image: "localhost/web:1"}]
"""


def test_a_pod_pruned_by_watch_terminates_gracefully(work: Path, client: Client,
                                                     store_url: str, tmp_path: Path) -> None:
    (work / "manifests" / "solo.yaml").write_text(BARE_POD)
    log = tmp_path / "agents.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [GITKUBE, "watch", "manifests", "--store", store_url, "--agents", "simulated",
             "--interval", "0", "--debounce", "100"], cwd=work, stdout=out,
            stderr=subprocess.STDOUT, text=True)
    try:
        def running() -> dict[str, Any] | None:
            found = get_or_none(client, "Pod", "solo", api_version="v1")
            return found if found and (found.get("status") or {}).get("phase") == "Running" \
                else None

        pod = wait_for(running, timeout=30, what="pod solo Running")
        watcher = client.watch("v1", "Pod", "default", field_selector="metadata.name=solo",
                               resource_version=pod["metadata"]["resourceVersion"])
        (work / "manifests" / "solo.yaml").unlink()  # pruned by the next reconcile
        seen: list[WatchEvent] = []
        with watcher:
            while not seen or seen[-1].type != "DELETED":
                event = watcher.next_event(timeout=30)
                assert event is not None, seen
                seen.append(event)
        # the same graceful deletion as everywhere: Terminating with the pod's own grace
        # period until the (simulated) kubelet confirms
        assert seen[0].type == "MODIFIED", seen
        assert seen[0].object["metadata"]["deletionGracePeriodSeconds"] == 17
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_triggers_debounce_until_quiet() -> None:
    triggers = Triggers()
    got: list[list[Trigger]] = []

    def take() -> None:
        batch = triggers.take(0.5)
        if batch is not None:
            got.append(batch)

    worker = threading.Thread(target=take)
    worker.start()
    start = time.monotonic()
    for i in range(3):
        triggers.add(Trigger("file", f"changed {i}"))
        time.sleep(0.05)
    worker.join(5)
    assert [len(b) for b in got] == [3]  # one reconcile for the burst
    assert time.monotonic() - start >= 0.5  # quiet for the whole debounce after the last
    triggers.close()
    assert triggers.take(0.1) is None


def test_fingerprint_ignores_status_and_bookkeeping() -> None:
    obj: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "web", "resourceVersion": "3", "generation": 1},
                           "spec": {"replicas": 2}, "status": {"replicas": 0}}
    same = json.loads(json.dumps(obj))
    same["metadata"]["resourceVersion"] = "9"
    same["status"] = {"replicas": 2, "readyReplicas": 2}
    assert fingerprint(obj) == fingerprint(same)
    same["spec"]["replicas"] = 5
    assert fingerprint(obj) != fingerprint(same)


def test_watch_once_outside_git(tmp_path: Path, client: Client, store_url: str) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "web.yaml").write_text(deployment(replicas=1))
    proc = run([GITKUBE, "watch", str(plain), "--once", "--store", store_url], tmp_path)
    assert "applied -:" in proc.stdout  # no commit to name
    assert replicas(client) == 1
    proc = run([GITKUBE, "watch", str(plain), "--once", "--store", store_url], tmp_path)
    assert "unchanged -:" in proc.stdout


def test_the_interval_reconcile_catches_what_the_watches_missed(
        work: Path, client: Client, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import os

    from gitkube.gitops.connect import Connection
    from gitkube.gitops.watch import WatchLoop, WatchOptions
    from gitkube.settings import Settings

    # no file watch and no store watch: only the periodic reconcile is left
    monkeypatch.setattr(WatchLoop, "_files", lambda self: None)
    monkeypatch.setattr(WatchLoop, "_watch_kinds", lambda self, kinds: None)
    out = io.StringIO()
    loop = WatchLoop(work / "manifests",
                     Connection(client, store_url, False, Settings.from_env(os.environ)),
                     out=out, options=WatchOptions(interval=0.3, debounce=0.05))
    runner = threading.Thread(target=loop.run)
    runner.start()
    try:
        wait_for(lambda: replicas(client) == 2, what="the first apply")
        client.update_scale("apps/v1", "Deployment", "default", "web", 7)
        wait_for(lambda: replicas(client) == 2, what="the interval reconcile")
        wait_for(lambda: "spec.replicas: 7 -> 2 (drift)" in out.getvalue(), what="the log")
        assert "[interval]" in out.getvalue()
    finally:
        loop.stop()
        runner.join(10)
    assert not runner.is_alive()
