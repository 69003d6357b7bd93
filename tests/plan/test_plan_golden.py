"""Run every golden case in tests/data/plans/ (see plan_golden.py for the layout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitkube.errors import GitkubeError
from gitkube.plan import planfile
from gitkube.plan.apply import apply_plan
from gitkube.plan.render import render_json, render_text
from tests.plan.plan_golden import CASES, STORE, edit, options, plan_case, prepare

CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_golden_plan(case: Path) -> None:
    client = prepare(case)
    plan = plan_case(case, client)
    text = render_text(plan)
    expected = case / "expected.txt"
    if os.environ.get("UPDATE_GOLDEN") or not expected.exists():
        expected.write_text(text, encoding="utf-8")
    assert text == expected.read_text(encoding="utf-8")
    assert "\x1b[" not in text


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_golden_apply_then_no_changes(case: Path, tmp_path: Path) -> None:
    """Applying the plan succeeds (or refuses as the case says); then plan shows nothing."""
    opts = options(case)
    client = prepare(case)
    plan = plan_case(case, client)
    if opts.get("stale_edits"):
        saved = tmp_path / "plan.json"
        planfile.save(plan, saved)
        edit(client, opts["stale_edits"])
        loaded = planfile.load(saved)
        with pytest.raises(planfile.StalePlan, match="Saved plan is stale"):
            from gitkube.plan.planner import ref_key

            live = {}
            for key in loaded.seen:
                api_kind, ns, name = key.rsplit("/", 2)
                api, kind = api_kind.rsplit("/", 1)
                live[key] = client.get(api, kind, ns or None, name)
            planfile.check_fresh(loaded, live, [ref_key(c.ref) for c in loaded.changes
                                                if c.ref.kind])
        return
    if opts.get("apply_error"):
        with pytest.raises(GitkubeError, match=opts["apply_error"]):
            apply_plan(client, plan, author="test")
        return
    apply_plan(client, plan, author="test")
    again = plan_case(case, client)
    assert again.actionable == (), render_text(again)


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_golden_cached_plans_are_the_same_plans(case: Path) -> None:
    """The no-op cache and the live index (first run fills them, second uses them) change
    nothing but speed; after an apply they still agree."""
    client = prepare(case)
    plain = render_text(plan_case(case, client))
    for _ in range(2):
        assert render_text(plan_case(case, client, use_cache=True)) == plain
    if options(case).get("apply_error") or options(case).get("stale_edits"):
        return
    apply_plan(client, plan_case(case, client, use_cache=True), author="test")
    for _ in range(2):
        assert plan_case(case, client, use_cache=True).actionable == ()


def test_golden_secret_values_never_shown(tmp_path: Path) -> None:
    case = CASES / "masking"
    client = prepare(case)
    plan = plan_case(case, client)
    planfile.save(plan, tmp_path / "p.json")
    outputs = [render_text(plan), render_json(plan), (tmp_path / "p.json").read_text()]
    for value in ("hunter2", "correct-horse", "aHVudGVyMg==", "Y29ycmVjdC1ob3JzZQ=="):
        for out in outputs:
            assert value not in out
    assert "(sensitive value)" in outputs[0]


def test_store_url_is_memory() -> None:
    assert STORE.startswith("memory")
