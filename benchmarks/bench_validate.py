"""Benchmark: `gitkube validate` on 10,000 generated manifests, beside kubernetes-validate.

Generates manifests of mixed kinds (one document per file, in nested directories) in a
temporary git repository, commits them, then times the real command line end to end
(process start included):

- cold: a fresh, empty cache directory;
- warm: nothing changed since the previous run;
- warm, one file changed;
- cold and warm with ``--revision HEAD`` (read from git objects, no checkout).

kubernetes-validate (the upstream Kubernetes JSON schemas via jsonschema) validates about 80
documents/s, so it is timed in-process on a sample spread over every kind (``--sample``,
300 by default) and its rate extrapolated to the full count; the report says so.

Then trees with errors (``--errors``, 1,500 Deployments by default, 1% of them with a typo:
a misspelt field, reported at its line and column):

- one file of all of them, cold, beside the same file without the typos and beside
  kubernetes-validate on a sample of the same documents, in the same run;
- the same documents in files of 50, cold, then warm after editing one file (a file
  without errors, so every error's position must come from the cache).

Run: .venv/bin/python benchmarks/bench_validate.py [--count 10000] [--sample 300] [--repeat 3]
     [--errors 1500] [--only errors]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMESPACES = 10


def _labels(app: str, indent: int) -> str:
    pad = " " * indent
    return f"{pad}app: {app}\n{pad}tier: backend\n"


def _container(app: str, i: int, indent: int) -> str:
    pad = " " * indent
    return (
        f"{pad}- name: {app}\n"
        f"{pad}  image: localhost/app:{i % 7}\n"
        f"{pad}  imagePullPolicy: IfNotPresent\n"
        f"{pad}  command: [\"httpd\", \"-f\", \"-p\", \"8080\"]\n"
        f"{pad}  env:\n"
        f"{pad}    - name: MODE\n"
        f"{pad}      value: \"production\"\n"
        f"{pad}    - name: REPLICA\n"
        f"{pad}      value: \"{i}\"\n"
        f"{pad}  ports:\n"
        f"{pad}    - name: http\n"
        f"{pad}      containerPort: 8080\n"
        f"{pad}  resources:\n"
        f"{pad}    requests:\n"
        f"{pad}      cpu: 50m\n"
        f"{pad}      memory: 32Mi\n"
        f"{pad}    limits:\n"
        f"{pad}      memory: 64Mi\n"
    )


def _pod_template(app: str, i: int) -> str:
    return (
        "  template:\n"
        "    metadata:\n"
        "      labels:\n"
        + _labels(app, 8)
        + "    spec:\n"
        "      containers:\n"
        + _container(app, i, 8)
    )


def _meta(kind: str, api: str, name: str, ns: str, app: str) -> str:
    return (f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"  labels:\n" + _labels(app, 4))


def manifest(i: int) -> tuple[str, str]:
    """The i-th generated manifest: (kind, YAML text). Every one is valid."""
    ns = f"team-{i % NAMESPACES}"
    app = f"app-{i}"
    pick = i % 20
    if pick < 4:
        return "ConfigMap", _meta("ConfigMap", "v1", f"{app}-config", ns, app) + (
            "data:\n  LOG_LEVEL: info\n  index.html: |\n    <h1>hello</h1>\n"
            f"  settings.json: '{{\"id\": {i}}}'\n")
    if pick < 6:
        return "Secret", _meta("Secret", "v1", f"{app}-secret", ns, app) + (
            "type: Opaque\nstringData:\n  TOKEN: not-a-real-secret\n")
    if pick < 10:
        return "Service", _meta("Service", "v1", f"{app}-svc", ns, app) + (
            "spec:\n  selector:\n" + _labels(app, 4)
            + "  ports:\n    - name: http\n      port: 80\n      targetPort: http\n")
    if pick < 14:
        return "Deployment", _meta("Deployment", "apps/v1", app, ns, app) + (
            "spec:\n  replicas: 2\n  selector:\n    matchLabels:\n" + _labels(app, 6)
            + _pod_template(app, i))
    if pick < 15:
        return "Job", _meta("Job", "batch/v1", f"{app}-job", ns, app) + (
            "spec:\n  backoffLimit: 2\n  template:\n    spec:\n      restartPolicy: Never\n"
            "      containers:\n" + _container(app, i, 8))
    if pick < 16:
        return "StatefulSet", _meta("StatefulSet", "apps/v1", f"{app}-db", ns, app) + (
            f"spec:\n  serviceName: {app}-svc\n  replicas: 1\n  selector:\n"
            "    matchLabels:\n" + _labels(app, 6) + _pod_template(app, i)
            + "  volumeClaimTemplates:\n    - metadata:\n        name: data\n      spec:\n"
            "        accessModes: [ReadWriteOnce]\n        resources:\n"
            "          requests:\n            storage: 1Gi\n")
    if pick < 17:
        return "DaemonSet", _meta("DaemonSet", "apps/v1", f"{app}-agent", ns, app) + (
            "spec:\n  selector:\n    matchLabels:\n" + _labels(app, 6) + _pod_template(app, i))
    if pick < 18:
        return "Pod", _meta("Pod", "v1", f"{app}-pod", ns, app) + (
            "spec:\n  containers:\n" + _container(app, i, 4))
    return "PersistentVolumeClaim", _meta("PersistentVolumeClaim", "v1", f"{app}-pvc", ns,
                                          app) + (
        "spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n"
        "      storage: 2Gi\n")


def generate(root: Path, count: int) -> list[Path]:
    """``count`` documents: NAMESPACES Namespaces, then manifests, ~50 files a directory."""
    files = []
    for n in range(NAMESPACES):
        path = root / "namespaces" / f"team-{n}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-{n}\n")
        files.append(path)
    for i in range(count - NAMESPACES):
        kind, text = manifest(i)
        path = root / f"team-{i % NAMESPACES}" / f"group-{i // 500:03}" / f"{kind.lower()}-{i}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files.append(path)
    return files


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
                    *args], cwd=root, check=True, capture_output=True)


def gitkube_command() -> list[str]:
    script = Path(sys.executable).parent / "gitkube"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gitkube.cli.main"]


def run_validate(root: Path, state: Path, *extra: str, errors: int = 0) -> float:
    """Seconds for one ``gitkube validate`` of ``root``, which must report exactly
    ``errors`` errors."""
    env = {**os.environ, "GITKUBE_STATE_DIR": str(state)}
    start = time.perf_counter()
    proc = subprocess.run([*gitkube_command(), "validate", str(root), *extra], env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    expected = f"invalid: {errors:,} error{'s' if errors != 1 else ''} in " if errors else "valid:"
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != (1 if errors else 0) or not last.startswith(expected):
        sys.exit(f"gitkube validate gave something else than {expected!r} "
                 f"({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def time_cold(root: Path, work: Path, repeat: int, *extra: str) -> list[float]:
    times = []
    for k in range(repeat):
        state = work / f"state-cold-{'-'.join(extra) or 'wt'}-{k}"
        times.append(run_validate(root, state, *extra))
    return times


def time_kubernetes_validate(files: list[Path], sample: int) -> tuple[int, float]:
    """(documents, seconds) for kubernetes-validate reading and validating a sample of the
    files in-process (its interpreter start-up is not counted: that favours it)."""
    from kubernetes_validate import utils as kv  # the test extra installs it

    version = kv.latest_version()
    step = max(1, len(files) // sample)
    chosen = files[::step][:sample]
    start = time.perf_counter()
    docs = 0
    for path in chosen:
        for resource in kv.resources_from_file(str(path)):
            kv.validate(resource, version, strict=True)
            docs += 1
    return docs, time.perf_counter() - start


def deployment(i: int, typo: bool) -> str:
    """The i-th Deployment of the error trees; ``typo``: its container's imagePullPolicy
    misspelt (one unknown-field error, with its line and column)."""
    text = manifest_deployment(i)
    return text.replace("imagePullPolicy:", "imagePullPolcy:") if typo else text


def manifest_deployment(i: int) -> str:
    app = f"web-{i}"
    return (_meta("Deployment", "apps/v1", app, "default", app)
            + "spec:\n  replicas: 2\n  selector:\n    matchLabels:\n" + _labels(app, 6)
            + _pod_template(app, i))


def error_trees(work: Path, count: int) -> tuple[Path, Path, Path, Path, int]:
    """(one file with 1% typos, the same without typos, files of 50 with the same typos,
    a file of that tree without errors, the number of typos)."""
    typos = {i for i in range(count) if i % 100 == 37}  # 1%, spread out
    single, clean, split = work / "errors-one-file", work / "clean-one-file", work / "errors-split"
    for root in (single, clean, split):
        root.mkdir()
    docs = [deployment(i, i in typos) for i in range(count)]
    (single / "deployments.yaml").write_text("---\n".join(docs))
    (clean / "deployments.yaml").write_text(
        "---\n".join(deployment(i, False) for i in range(count)))
    clean_file = split
    for start in range(0, count, 50):
        path = split / f"deployments-{start // 50:03}.yaml"
        path.write_text("---\n".join(docs[start:start + 50]))
        if not typos & set(range(start, start + 50)):
            clean_file = path
    return single, clean, split, clean_file, len(typos)


def time_kubernetes_validate_file(path: Path, sample: int) -> tuple[int, int, float]:
    """(documents, of them invalid, seconds): kubernetes-validate on the first ``sample``
    documents of ``path`` (read by its own reader), in-process."""
    from kubernetes_validate import utils as kv

    version = kv.latest_version()
    resources = list(kv.resources_from_file(str(path)))[:sample]
    start = time.perf_counter()
    invalid = 0
    for resource in resources:
        try:
            kv.validate(resource, version, strict=True)
        except kv.ValidationError:
            invalid += 1
    return len(resources), invalid, time.perf_counter() - start


def bench_errors(work: Path, count: int, repeat: int, sample: int) -> None:
    """The trees with errors: see the module docstring."""
    single, clean, split, clean_file, typos = error_trees(work, count)
    rows: list[tuple[str, list[float]]] = []
    rows.append(("cold, one file, no errors", [
        run_validate(clean, work / f"state-clean-{k}") for k in range(repeat)]))
    rows.append((f"cold, one file, {typos} errors", [
        run_validate(single, work / f"state-err-{k}", errors=typos) for k in range(repeat)]))
    rows.append((f"cold, files of 50, {typos} errors", [
        run_validate(split, work / f"state-split-{k}", errors=typos) for k in range(repeat)]))
    state = work / "state-split-warm"
    run_validate(split, state, errors=typos)
    time.sleep(2.1)  # past the stat index's racy-file window, as between real edits
    run_validate(split, state, errors=typos)
    edited = []
    for k in range(repeat):
        text = clean_file.read_text()
        clean_file.write_text(text.replace("tier: backend", f"tier: backend{k}", 1) if k == 0
                              else text.replace(f"backend{k - 1}", f"backend{k}", 1))
        edited.append(run_validate(split, state, errors=typos))
    rows.append(("warm, files of 50, one edited", edited))
    kv_docs, kv_invalid, kv_seconds = time_kubernetes_validate_file(
        single / "deployments.yaml", sample)
    kv_rate = kv_docs / kv_seconds
    print(f"\ngitkube validate: {count:,} Deployments, {typos} with a typo (1%); median of "
          f"{repeat} runs; whole command incl. start-up")
    print(f"{'case':<34}{'seconds':>10}{'documents/s':>14}   runs (s)")
    for name, times in rows:
        med = statistics.median(times)
        print(f"{name:<34}{med:>10.2f}{count / med:>14,.0f}   "
              + " ".join(f"{t:.2f}" for t in times))
    print(f"{'kubernetes-validate, same file':<34}{count / kv_rate:>10.1f}{kv_rate:>14,.0f}   "
          f"extrapolated from {kv_docs} documents ({kv_invalid} invalid) in {kv_seconds:.2f} s")
    cold = statistics.median(rows[1][1])
    print(f"cold gitkube (one file, errors) / kubernetes-validate: "
          f"{count / cold / kv_rate:,.0f}x; errors / no errors: "
          f"{cold / statistics.median(rows[0][1]):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="documents to generate")
    parser.add_argument("--sample", type=int, default=300,
                        help="documents kubernetes-validate checks (then extrapolated)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median shown)")
    parser.add_argument("--errors", type=int, default=1_500,
                        help="Deployments in the trees with errors (1%% with a typo)")
    parser.add_argument("--only", choices=["all", "clean", "errors"], default="all",
                        help="run only the valid trees or only the trees with errors")
    args = parser.parse_args()
    if args.only == "errors":
        work = Path(tempfile.mkdtemp(prefix="gitkube-bench-"))
        try:
            bench_errors(work, args.errors, args.repeat, args.sample)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return

    work = Path(tempfile.mkdtemp(prefix="gitkube-bench-"))
    try:
        root = work / "repo"
        root.mkdir()
        files = generate(root, args.count)
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "generated manifests")
        count = args.count
        rows: list[tuple[str, list[float]]] = []
        rows.append(("cold (empty cache)", time_cold(root, work, args.repeat)))
        state = work / "state-warm"
        run_validate(root, state)
        time.sleep(2.1)  # let the stat index's racy-file window pass, as between real edits
        run_validate(root, state)
        rows.append(("warm (nothing changed)",
                     [run_validate(root, state) for _ in range(args.repeat)]))
        changed = []
        target = files[NAMESPACES]
        for k in range(args.repeat):
            target.write_text(target.read_text().replace("LOG_LEVEL: info",
                                                         f"LOG_LEVEL: info{k}", 1)
                              if k == 0 else target.read_text().replace(
                                  f"info{k - 1}", f"info{k}"))
            changed.append(run_validate(root, state))
        rows.append(("warm (one file changed)", changed))
        rows.append(("cold --revision HEAD", time_cold(root, work, args.repeat, "-r", "HEAD")))
        rev_state = work / "state-rev"
        run_validate(root, rev_state, "-r", "HEAD")
        rows.append(("warm --revision HEAD",
                     [run_validate(root, rev_state, "-r", "HEAD") for _ in range(args.repeat)]))

        kv_docs, kv_seconds = time_kubernetes_validate(files, args.sample)
        kv_rate = kv_docs / kv_seconds
        cold_rate = count / statistics.median(rows[0][1])

        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
        print(f"gitkube validate: {count:,} documents, one per file, mixed kinds; "
              f"{cpus} CPUs; median of {args.repeat} runs; whole command incl. start-up")
        print(f"{'case':<28}{'seconds':>10}{'documents/s':>14}   runs (s)")
        for name, times in rows:
            med = statistics.median(times)
            runs = " ".join(f"{t:.2f}" for t in times)
            print(f"{name:<28}{med:>10.2f}{count / med:>14,.0f}   {runs}")
        print(f"{'kubernetes-validate':<28}{count / kv_rate:>10.1f}{kv_rate:>14,.0f}   "
              f"extrapolated from {kv_docs} documents in {kv_seconds:.2f} s (in-process, strict)")
        print(f"cold gitkube / kubernetes-validate: {cold_rate / kv_rate:,.0f}x")
        if args.only == "all":
            bench_errors(work, args.errors, args.repeat, args.sample)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
