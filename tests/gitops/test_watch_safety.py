"""`gitkube watch` never deletes live objects because a file is being written: a truncated
file waits to be written, a temp file renamed over it and editors' swap files change
nothing, and a large prune is applied only when a second look sees it too (or with
--allow-large-prune)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitkube.api.client import Client
from gitkube.errors import NotFound
from gitkube.gitops.safety import PruneSafety, confirmed, files_in_progress
from gitkube.model.objects import ObjectRef
from gitkube.plan.planner import Desired
from tests.gitops.gitops_env import GITKUBE, wait_for


def configmaps(*names: str) -> str:
    return "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}, "
                   f"namespace: default}}\ndata: {{k: v}}\n" for n in names)


class Watch:
    def __init__(self, proc: subprocess.Popen[str], log: Path):
        self.proc, self.log = proc, log

    def text(self) -> str:
        return self.log.read_text()

    def saw(self, needle: str, timeout: float = 15.0) -> None:
        wait_for(lambda: needle in self.text(), timeout, what=f"{needle!r} in the watch log")


@pytest.fixture
def start_watch(tmp_path: Path, store_url: str) -> Iterator[Callable[..., Watch]]:
    procs: list[subprocess.Popen[str]] = []

    def start(manifests: Path, *extra: str) -> Watch:
        log = tmp_path / f"watch-{len(procs)}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [GITKUBE, "watch", str(manifests), "--store", store_url, "--agents", "none",
                 "--interval", "0", "--debounce", "100", *extra],
                stdout=out, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        watch = Watch(proc, log)
        watch.saw("watching")
        return watch

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def uids(client: Client, *names: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = client.get("v1", "ConfigMap", "default", name)["metadata"]["uid"]
        except NotFound:
            out[name] = None
    return out


def test_a_truncated_file_is_waited_for_not_pruned(tmp_path: Path, client: Client,
                                                   start_watch: Callable[..., Watch]) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "app.yaml").write_text(configmaps("a", "b"))
    (root / "other.yaml").write_text(configmaps("c"))
    watch = start_watch(root)
    before = wait_for(lambda: all(uids(client, "a", "b", "c").values())
                      and uids(client, "a", "b", "c"), what="the first apply")
    # `gen > app.yaml`: truncated first, written a moment later
    (root / "app.yaml").write_text("")
    watch.saw("app.yaml: no objects now; waiting for it to be written")
    time.sleep(0.6)
    (root / "app.yaml").write_text(configmaps("a", "b"))
    time.sleep(1.5)  # the settling look and any reconcile it triggers
    assert uids(client, "a", "b", "c") == before  # nothing deleted and made again
    assert "delete ConfigMap" not in watch.text()


def test_rename_over_and_swap_files_change_nothing(tmp_path: Path, client: Client,
                                                   start_watch: Callable[..., Watch]) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "app.yaml").write_text(configmaps("a", "b"))
    watch = start_watch(root)
    before = wait_for(lambda: all(uids(client, "a", "b").values()) and uids(client, "a", "b"),
                      what="the first apply")
    tmp = root / "app.yaml.new"
    tmp.write_text(configmaps("a", "b"))
    tmp.rename(root / "app.yaml")
    for swap in (".app.yaml.swp", "app.yaml~", "4913", "#app.yaml#"):
        (root / swap).write_text("")
    time.sleep(1.0)
    for swap in (".app.yaml.swp", "app.yaml~", "4913", "#app.yaml#"):
        (root / swap).unlink()
    time.sleep(1.0)
    assert uids(client, "a", "b") == before
    assert "delete ConfigMap" not in watch.text()


def test_an_emptied_file_that_stays_empty_is_pruned(tmp_path: Path, client: Client,
                                                    start_watch: Callable[..., Watch]) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "app.yaml").write_text(configmaps("a", "b"))
    (root / "keep.yaml").write_text(configmaps("k"))
    watch = start_watch(root)
    wait_for(lambda: all(uids(client, "a", "b", "k").values()), what="the first apply")
    (root / "app.yaml").write_text("# nothing here any more\n")
    # after the settling bound the deletion counts as meant; 2 of 3 objects is a large
    # prune, so it is seen twice before it is applied
    watch.saw("held: 2 deletions of the 3 objects this source owns", timeout=20)
    wait_for(lambda: uids(client, "a", "b", "k") == {"a": None, "b": None,
                                                     "k": uids(client, "k")["k"]},
             timeout=20, what="the prune")


def test_a_large_prune_needs_a_second_look(tmp_path: Path, client: Client,
                                           start_watch: Callable[..., Watch]) -> None:
    root = tmp_path / "m"
    root.mkdir()
    names = [f"cm{i}" for i in range(12)]
    for name in names:
        (root / f"{name}.yaml").write_text(configmaps(name))
    (root / "keep.yaml").write_text(configmaps("keep"))
    watch = start_watch(root)
    before = wait_for(lambda: all(uids(client, *names).values()) and uids(client, *names),
                      what="the first apply")
    # a directory regenerated: everything gone for a moment, then back
    for name in names:
        (root / f"{name}.yaml").unlink()
    watch.saw("held: 12 deletions (more than 10)")
    for name in names:
        (root / f"{name}.yaml").write_text(configmaps(name))
    time.sleep(2.5)  # the second look sees no deletion: none is applied
    assert uids(client, *names) == before
    # removed for good: the second look sees the same deletions and applies them
    for name in names:
        (root / f"{name}.yaml").unlink()
    wait_for(lambda: not any(uids(client, *names).values()), timeout=20,
             what="the confirmed prune")
    assert uids(client, "keep")["keep"]


def test_allow_large_prune_applies_at_once(tmp_path: Path, client: Client,
                                           start_watch: Callable[..., Watch]) -> None:
    root = tmp_path / "m"
    root.mkdir()
    names = [f"cm{i}" for i in range(12)]
    for name in names:
        (root / f"{name}.yaml").write_text(configmaps(name))
    (root / "keep.yaml").write_text(configmaps("keep"))
    watch = start_watch(root, "--allow-large-prune")
    wait_for(lambda: all(uids(client, *names).values()), what="the first apply")
    for name in names:
        (root / f"{name}.yaml").unlink()
    wait_for(lambda: not any(uids(client, *names).values()), what="the prune")
    assert "held:" not in watch.text()


# --- the pure decisions --------------------------------------------------------------------


def _desired(*files: str) -> list[Desired]:
    return [Desired({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"c{i}", "namespace": "default"}}, file)
            for i, file in enumerate(files)]


def test_files_in_progress() -> None:
    good = _desired("a.yaml", "a.yaml", "b.yaml", "c.yaml")
    now = _desired("b.yaml")
    exists = {"a.yaml", "b.yaml"}.__contains__  # c.yaml was removed: a deletion
    assert files_in_progress(good, now, exists) == ["a.yaml"]
    assert files_in_progress(good, good, exists) == []


@pytest.mark.parametrize(("deleting", "owned", "large"), [
    (0, 5, False), (1, 1, False), (1, 2, False), (2, 4, False), (3, 4, True), (10, 100, False),
    (11, 100, True), (2, 3, True)])
def test_large_prunes(deleting: int, owned: int, large: bool) -> None:
    assert (PruneSafety().large(deleting, owned) is not None) == large


def test_confirmed_only_by_the_same_deletions() -> None:
    a, b = ObjectRef("v1", "ConfigMap", "default", "a"), ObjectRef("v1", "ConfigMap",
                                                                   "default", "b")
    assert not confirmed(None, [a])
    assert confirmed(frozenset([a, b]), [b, a])
    assert not confirmed(frozenset([a]), [a, b])
