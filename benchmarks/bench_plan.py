"""Plan and apply at scale: a 10,000-object git repository against a live SQLite store.

    .venv/bin/python benchmarks/bench_plan.py [--objects 10000]

1. apply of N creates: plan (everything new) then one api transaction; the apply figure is
   the transaction alone, the plan before it is reported too
2. 1% of the objects are then changed in git (a ConfigMap value or a Deployment image)
3. cold plan: empty content cache; read + validate + list the live store + diff
4. warm plan: the content cache is warm and one file changed since

Targets (2-core machine): cold plan <= 4 s, warm plan <= 0.5 s, apply of 10,000
creates <= 3 s. The machine is shared: run it twice and take the lower figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git

PER_FILE = 5
NAMESPACES = 10


def _configmap(i: int, ns: str, value: str) -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: {ns}\n"
        f"  labels:\n    app: app-{i % 50}\ndata:\n  key: \"{value}\"\n  other: \"x{i}\"\n"
    )


def _deployment(i: int, ns: str, image: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i}\n"
        f"  namespace: {ns}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n"
        f"      app: web-{i}\n  template:\n    metadata:\n      labels:\n        app: web-{i}\n"
        f"    spec:\n      containers:\n        - name: web\n          image: {image}\n"
        "          ports:\n            - containerPort: 8080\n          resources:\n"
        "            requests:\n              cpu: 0.1\n              memory: 64Mi\n"
    )


def _service(i: int, ns: str) -> str:
    return (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web-{i}\n  namespace: {ns}\n"
        f"spec:\n  selector:\n    app: web-{i}\n  ports:\n    - port: 80\n"
        "      targetPort: 8080\n"
    )


def _doc(i: int, changed: bool) -> str:
    ns = f"ns-{i % NAMESPACES}"
    kind = i % 3
    if kind == 0:
        return _configmap(i, ns, "changed" if changed else "v1")
    if kind == 1:
        return _deployment(i, ns, "example/web:2" if changed else "example/web:1")
    return _service(i, ns)


def write_repo(root: Path, n: int, changed: set[int]) -> None:
    manifests = root / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    namespaces = "---\n".join(
        f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-{k}\n" for k in range(NAMESPACES)
    )
    (manifests / "00-namespaces.yaml").write_text(namespaces)
    body = n - NAMESPACES
    for f in range(0, body, PER_FILE):
        docs = [_doc(i, i in changed) for i in range(f, min(f + PER_FILE, body))]
        (manifests / f"f{f // PER_FILE:05d}.yaml").write_text("---\n".join(docs))


def commit_all(repo: git.Repo, message: str) -> None:
    repo.git.add("-A", ".")
    repo.index.commit(message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    args = parser.parse_args()
    n = args.objects

    work = Path(tempfile.mkdtemp(prefix="gitkube-bench-plan-"))
    os.environ["GITKUBE_STATE_DIR"] = str(work / "state")  # for the `gitkube` runs below
    from gitkube.api.local import LocalClient
    from gitkube.plan.apply import apply_plan
    from gitkube.plan.build import build_plan, load_desired
    from gitkube.plan.sourceinfo import describe
    from gitkube.settings import Settings
    from gitkube.source.loader import SourceOptions
    from gitkube.store import open_store

    settings = Settings.defaults(work / "state")  # the content and plan caches live under it

    try:
        repo_dir = work / "repo"
        repo_dir.mkdir()
        repo = git.Repo.init(repo_dir)
        with repo.config_writer() as cfg:
            cfg.set_value("user", "name", "bench")
            cfg.set_value("user", "email", "bench@example.com")
        write_repo(repo_dir, n, set())
        commit_all(repo, "initial")
        manifests = repo_dir / "manifests"
        url = f"sqlite:///{work / 'state.db'}"
        client = LocalClient(open_store(url))

        phases: dict[str, float] = {}

        def plan_once():  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            desired = load_desired(manifests, options=SourceOptions.of(settings))
            phases["read+validate"] = time.perf_counter() - t
            t = time.perf_counter()
            source = describe(manifests)
            phases["git identity"] = time.perf_counter() - t
            t = time.perf_counter()
            plan = build_plan(client, desired, source, store_url=url,
                              cache_dir=settings.cache_dir)
            phases["list live+diff"] = time.perf_counter() - t
            return plan

        def breakdown() -> str:
            return ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())

        t0 = time.perf_counter()
        first = plan_once()
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        apply_plan(client, first, author="bench")
        t_apply = time.perf_counter() - t0
        print(f"objects: {n} ({(n - NAMESPACES + PER_FILE - 1) // PER_FILE + 1} files)")
        print(f"plan of {first.summary.add} creates (cold, empty store): {t_first:.2f} s")
        print(f"apply of {first.summary.add} creates (one transaction): {t_apply:.2f} s"
              "  [target <= 3 s]")

        # 1% changed in git
        changed = {i for i in range(0, n - NAMESPACES) if i % 100 == 7 and i % 3 != 2}
        changed |= {i for i in range(0, n - NAMESPACES) if i % 100 == 8 and i % 3 != 2}
        changed = set(sorted(changed)[: n // 100])
        write_repo(repo_dir, n, changed)
        commit_all(repo, "one percent changed")

        shutil.rmtree(work / "state" / "cache", ignore_errors=True)
        t0 = time.perf_counter()
        cold = plan_once()
        t_cold = time.perf_counter() - t0
        print(f"cold plan ({cold.summary.line()}): {t_cold:.2f} s  [target <= 4 s]")
        print(f"  {breakdown()}")

        target = manifests / "f00000.yaml"
        target.write_text(target.read_text().replace('other: "x0"', 'other: "y0"'))
        t0 = time.perf_counter()
        warm = plan_once()
        t_warm = time.perf_counter() - t0
        print(f"warm plan, one file changed ({warm.summary.line()}): {t_warm:.2f} s"
              "  [target <= 0.5 s]")
        print(f"  {breakdown()}")

        env = {**os.environ, "GITKUBE_STORE": url}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gitkube.cli.main", "plan", str(manifests)],
                       env=env, check=True, capture_output=True)
        t_cli = time.perf_counter() - t0
        print(f"`gitkube plan` CLI, warm, wall time incl. interpreter start-up: {t_cli:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
