"""gitkube.plan: diff the desired state in git against the live store, and apply the plan.

Pure core: ``planner.make_plan`` (desired + live -> Plan) over ``normalize``, ``diff``
(three-way), ``order`` and ``mask``; ``render`` turns a Plan into text or JSON. Effectful
shell: ``build`` (read git and the store), ``planfile`` (save, load, stale check), ``apply``
(one api transaction + history). See docs/PLAN.md.
"""
