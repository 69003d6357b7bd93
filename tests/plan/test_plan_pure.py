"""The pure core: three-way diff, merge, ordering, masking, saved-plan round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitkube.model.objects import ObjectRef
from gitkube.plan import annotations as ann
from gitkube.plan import planfile
from gitkube.plan.diff import merge, three_way
from gitkube.plan.mask import SENSITIVE, mask_object
from gitkube.plan.model import Action, Change, FieldChange, SourceInfo, dotted_path
from gitkube.plan.order import order_changes
from gitkube.plan.planner import Desired, LiveLookups, NoopCaches, make_plan
from gitkube.plan.render import render_json, render_text

SRC = SourceInfo("s-1", "git:x//m", "m", "abc")


def cm(name: str, ns: str = "default", **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": dict(data)}


def test_three_way_change_drift_removal_and_unmanaged() -> None:
    last = {"a": 1, "b": 2, "gone": 3}
    desired = {"a": 10, "b": 2}
    live = {"a": 1, "b": 5, "gone": 3, "theirs": 4}
    changes = {f.dotted: f for f in three_way(desired, live, last)}
    assert changes["a"] == FieldChange(("a",), "replace", 1, 10, drift=False)
    assert changes["b"] == FieldChange(("b",), "replace", 5, 2, drift=True)
    assert changes["gone"].op == "remove"
    assert "theirs" not in changes  # never applied by gitkube: not ours
    assert merge(desired, live, last) == {"a": 10, "b": 2, "theirs": 4}


def test_three_way_without_last_applied_removes_nothing() -> None:
    assert three_way({"a": 1}, {"a": 1, "b": 2}, None) == []


def test_lists_of_equal_length_diff_by_item_and_keep_unmanaged_item_fields() -> None:
    desired = {"c": [{"name": "x", "image": "i:2"}]}
    live = {"c": [{"name": "x", "image": "i:1", "extra": True}]}
    last = {"c": [{"name": "x", "image": "i:1"}]}
    (change,) = three_way(desired, live, last)
    assert change.dotted == "c[0].image" and not change.drift
    assert merge(desired, live, last) == {"c": [{"name": "x", "image": "i:2", "extra": True}]}
    grown = {"c": [{"name": "x"}, {"name": "y"}]}
    (whole,) = three_way(grown, live, last)
    assert whole.dotted == "c" and merge(grown, live, last) == grown


def test_dotted_path_brackets_keys_with_dots() -> None:
    assert dotted_path(("metadata", "labels", "app.kubernetes.io/name")) == (
        'metadata.labels["app.kubernetes.io/name"]')
    assert dotted_path(("spec", "containers", 0, "image")) == "spec.containers[0].image"


def test_quantities_and_defaults_make_no_noise() -> None:
    first = make_plan([Desired(cm("a", k="v"))], {}, source=SRC)
    live = {c.ref: c.desired for c in first.changes if c.desired is not None}
    again = make_plan([Desired(cm("a", k="v"))], live, source=SRC,
                      lookups=LiveLookups(last_applied=lambda ref, d: None))
    assert [c.action for c in again.changes] == [Action.NOOP]


def test_prune_disabled_and_protected_are_reported() -> None:
    first = make_plan([Desired(cm("a")), Desired(cm("b"))], {}, source=SRC)
    live = {c.ref: c.desired for c in first.changes if c.desired is not None}
    live[ObjectRef("v1", "ConfigMap", "default", "b")]["metadata"]["annotations"][ann.PRUNE] = (
        "false")
    kept = make_plan([Desired(cm("a"))], live, source=SRC)
    assert kept.actionable == () and "protected" in kept.skipped[0].reason
    off = make_plan([], live, source=SRC, prune=False)
    assert off.actionable == () and len(off.skipped) == 2 and off.empty_desired_guard


def test_order_deletes_reverse_and_groups_namespace_children() -> None:
    def ch(kind: str, ns: str, action: Action, via: str | None = None) -> Change:
        api = "apps/v1" if kind == "Deployment" else "v1"
        return Change(ObjectRef(api, kind, ns, kind.lower()), action, via_namespace=via)

    ordered = order_changes([
        ch("Deployment", "a", Action.CREATE), ch("Namespace", "", Action.CREATE),
        ch("Service", "a", Action.CREATE), ch("ConfigMap", "a", Action.CREATE),
        ch("ConfigMap", "x", Action.DELETE), ch("Deployment", "x", Action.DELETE),
    ])
    kinds = [(c.ref.kind, c.action.value) for c in ordered]
    assert kinds == [("Namespace", "create"), ("ConfigMap", "create"), ("Service", "create"),
                     ("Deployment", "create"), ("Deployment", "delete"), ("ConfigMap", "delete")]


def test_secret_masking_everywhere_and_planfile_round_trip(tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"password": "hunter2"}}
    plan = make_plan([Desired(secret, "s.yaml"), Desired(cm("a", k="v"), "a.yaml")], {},
                     source=SRC, store_url="memory://", store_revision=7)
    assert mask_object(plan.changes[1].desired or {})["data"] == {"password": SENSITIVE}
    path = tmp_path / "plan.json"
    planfile.save(plan, path)
    text = path.read_text()
    assert "hunter2" not in text and "aHVudGVyMg==" not in text
    loaded = planfile.load(path)
    assert render_text(loaded) == render_text(plan)
    assert '"revision": 7' in render_json(loaded)
    restored = planfile.restore_secrets(loaded, [secret, cm("a", k="v")])
    sec = next(c for c in restored.changes if c.ref.kind == "Secret")
    assert sec.desired is not None and sec.desired["data"] == {"password": "aHVudGVyMg=="}
    changed = dict(secret, stringData={"password": "other"})
    with pytest.raises(planfile.StalePlan, match="Saved plan is stale"):
        planfile.restore_secrets(loaded, [changed])


def test_not_a_planfile_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(Exception, match="not a readable gitkube plan"):
        planfile.load(bad)
    assert not planfile.is_planfile(bad)


def test_noop_cache_is_used_only_while_content_and_live_version_are_unchanged() -> None:
    first = make_plan([Desired(cm("a", k="v"))], {}, source=SRC)
    obj = first.changes[0].desired
    assert obj is not None
    obj["metadata"].update(resourceVersion="5", uid="u1")
    live = {first.changes[0].ref: obj}
    out: dict[str, tuple[str, str, str, str]] = {}
    item = Desired(cm("a", k="v"), "a.yaml", "blob1:0:None")
    assert make_plan([item], live, source=SRC, caches=NoopCaches(write=out)).actionable == ()
    assert list(out.values()) == [("blob1:0:None", "5", "u1", "s-1")]
    # a cached no-op is trusted without comparing: prove it by lying in the live object
    lying = {first.changes[0].ref: {**obj, "data": {"k": "changed by hand"}}}
    assert make_plan([item], lying, source=SRC, caches=NoopCaches(read=out)).actionable == ()
    # ... which only happens while the resourceVersion is the same: a hand edit moves it
    moved = {**obj, "data": {"k": "changed by hand"},
             "metadata": {**obj["metadata"], "resourceVersion": "6"}}
    plan = make_plan([item], {first.changes[0].ref: moved}, source=SRC,
                     caches=NoopCaches(read=out),
                     lookups=LiveLookups(last_applied=lambda ref, d: None))
    assert [f.dotted for f in plan.actionable[0].fields] == ["data.k"]
    assert plan.actionable[0].drifted


def test_colour_only_when_asked() -> None:
    plan = make_plan([Desired(cm("a", k="v"))], {}, source=SRC)
    assert "\x1b[32m+\x1b[0m" in render_text(plan, colour=True)
    assert "\x1b[" not in render_text(plan)


def test_saved_plan_with_protected_object_is_fresh_until_that_object_changes() -> None:
    first = make_plan([Desired(cm("a")), Desired(cm("keep"))], {}, source=SRC)
    live = {}
    for n, c in enumerate(first.changes):
        assert c.desired is not None
        c.desired["metadata"]["resourceVersion"] = str(n + 1)
        live[c.ref] = c.desired
    keep = ObjectRef("v1", "ConfigMap", "default", "keep")
    live[keep]["metadata"]["annotations"][ann.PRUNE] = "false"
    plan = make_plan([Desired(cm("a"))], live, source=SRC)
    loaded = planfile.loads(planfile.dumps(plan))
    by_key = {f"v1/ConfigMap/default/{r.name}": o for r, o in live.items()}
    planfile.check_fresh(loaded, by_key, list(by_key))
    edited = {**live[keep], "data": {"x": "y"},
              "metadata": {**live[keep]["metadata"], "resourceVersion": "9"}}
    with pytest.raises(planfile.StalePlan):
        planfile.check_fresh(loaded, {**by_key, "v1/ConfigMap/default/keep": edited},
                             list(by_key))
