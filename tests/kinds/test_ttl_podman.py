"""Job ttlSecondsAfterFinished for real: ``apply --wait`` runs a Job on Podman, counts it
done when its TTL controller deletes it at once (TTL 0, as ingress-nginx's admission Jobs
ask), and the Job and its pod are gone; nothing is left behind in Podman."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.agents.kubelet.config import cluster_id
from gitkube.api.local import LocalClient
from gitkube.errors import NotFound
from gitkube.runtime.base import LABEL_CLUSTER
from gitkube.settings import Settings
from gitkube.store import open_store
from tests.kinds.kube import run
from tests.support.containers import EXAMPLE_IMAGE, ensure_example_image, podman_missing, sweep


@pytest.fixture
def embedded(_isolated_state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """No daemon, pods on Podman's default network, no Services add-ons; everything of this
    store's cluster is swept (and counted) at the end."""
    reason = podman_missing()
    if reason:
        pytest.skip(reason)
    ensure_example_image()
    monkeypatch.setenv("GITKUBE_NO_DAEMON", "1")
    monkeypatch.setenv("GITKUBE_POD_NETWORK", "")
    monkeypatch.setenv("GITKUBE_SERVICES", "0")
    yield f"gk-ttl-{uuid.uuid4().hex[:6]}"
    from gitkube.runtime.podman import PodmanRuntime

    client = LocalClient(open_store(Settings.from_env(os.environ).store_url))
    base = Path(tempfile.mkdtemp(prefix="gk-ttl-"))
    runtime = PodmanRuntime(base_dir=base)
    try:
        left = sweep(runtime, {LABEL_CLUSTER: cluster_id(client)})
    finally:
        runtime.close()
        shutil.rmtree(base, ignore_errors=True)
    assert left == 0, f"{left} sandboxes/containers were left behind"


def test_apply_wait_counts_a_job_its_ttl_removed(embedded: str, tmp_path: Path) -> None:
    ns = embedded
    root = tmp_path / "m"
    root.mkdir()
    (root / "job.yaml").write_text(f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
  namespace: {ns}
spec:
  ttlSecondsAfterFinished: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: once
        image: {EXAMPLE_IMAGE}
        imagePullPolicy: IfNotPresent
        command: [sh, -c, "echo done"]
""")
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "120")
    assert code == 0, out
    client = LocalClient(open_store(Settings.from_env(os.environ).store_url))
    with pytest.raises(NotFound):
        client.get("batch/v1", "Job", ns, "once")
    deadline = time.monotonic() + 60
    while client.list("v1", "Pod", ns).items and time.monotonic() < deadline:
        time.sleep(0.2)  # the garbage collector ran with apply's agents; bounded poll
    assert not client.list("v1", "Pod", ns).items or all(
        p["metadata"].get("deletionTimestamp") for p in client.list("v1", "Pod", ns).items)
    code, out = run("delete", f"namespace/{ns}", "--timeout", "120")
    assert code == 0, out
