"""CronJob on both paths: embedded (validate, plan, apply --wait, get) and through a daemon
with the real kubectl (create cronjob, create job --from=cronjob, get)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.daemon.daemon_env import RunningDaemon
from tests.kinds.kube import Kubectl, run

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "30 2 * * *"
  timeZone: Europe/Berlin
  concurrencyPolicy: Forbid
  suspend: true  # the embedded apply's agents must start nothing (no image pull)
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: backup
            image: busybox:1.36
            command: [sh, -c, "echo backup"]
"""


def test_embedded_validate_plan_apply_get(tmp_path: Path, _isolated_state_dir: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "cron.yaml").write_text(CRONJOB)
    assert run("validate", str(root))[0] == 0
    code, out = run("plan", str(root))
    assert code == 0 and "cronjob" in out.lower() and "nightly" in out, out
    code, out = run("apply", str(root), "--yes", "--wait", "--timeout", "60")
    assert code == 0, out
    code, out = run("get", "cronjobs")
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE",
                              "LAST", "SCHEDULE", "AGE"]
    assert row.split()[:8] == ["nightly", "30", "2", "*", "*", "*", "Europe/Berlin", "True"]
    code, out = run("get", "cj", "nightly", "-o", "json")
    spec = json.loads(out)["spec"]
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)


def test_bad_schedule_is_one_line_at_its_place(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "cron.yaml").write_text(CRONJOB.replace('"30 2 * * *"', '"30 25 * * *"')
                                    .replace("Europe/Berlin", "Europe/Bonn"))
    code, out = run("validate", str(root))
    assert code == 1
    lines = out.splitlines()
    assert any(line.endswith('cron.yaml:6:3: CronJob/nightly: invalid schedule "30 25 * * *": '
                             "bad hour") for line in lines), out
    assert any("cron.yaml:7:3:" in line and 'unknown time zone "Europe/Bonn"' in line
               for line in lines), out
    assert "hint: five fields" in out and "IANA time zone" in out


def test_kubectl_create_cronjob_and_job_from_it(daemon: RunningDaemon, tmp_path: Path) -> None:
    kubectl = Kubectl(daemon, tmp_path)
    out = kubectl.ok("create", "cronjob", "tick", "--image=busybox:1.36",
                     "--schedule=*/5 * * * *", "--", "echo", "hi")
    assert "cronjob.batch/tick created" in out
    out = kubectl.ok("get", "cronjobs")
    assert out.splitlines()[0].split()[:6] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND",
                                               "ACTIVE", "LAST"]
    assert out.splitlines()[1].split()[:8] == ["tick", "*/5", "*", "*", "*", "*", "<none>",
                                               "False"]
    cj = json.loads(kubectl.ok("get", "cj", "tick", "-o", "json"))
    assert cj["spec"]["concurrencyPolicy"] == "Allow"
    assert cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == \
        "OnFailure"
    out = kubectl.ok("create", "job", "manual-run", "--from=cronjob/tick")
    assert "job.batch/manual-run created" in out
    job = json.loads(kubectl.ok("get", "job", "manual-run", "-o", "json"))
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    bad = kubectl("create", "cronjob", "bad", "--image=busybox", "--schedule=* * *")
    assert bad.returncode != 0 and "spec.schedule" in bad.stderr, bad.stderr
    assert "expected exactly 5 fields" in bad.stderr
    # the gitkube CLI sees the same
    code, out = run("get", "cronjob", "tick")
    assert code == 0 and out.splitlines()[1].split()[0] == "tick"
