"""Semantic rules of the kinds added beside the original workloads, one function per kind.

``KIND_RULES[kind](obj)`` returns the Issues of one object of a kind (its schema already
checked, so it only looks at values of the types it expects); ``check_object`` runs it after
``semantic.check_semantics``. Each rule is upstream's API validation for that kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gitkube.model.cron import CronError, parse_schedule, parse_zone
from gitkube.model.priority import class_problems
from gitkube.schema.issue import Issue, Path
from gitkube.schema.semantic import check_semantics

Issues = list[Issue]
CRONJOB_NAME_MAX = 52  # upstream: the Job name adds "-" and up to 11 digits of minutes


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _not_negative(spec: dict[str, Any], field: str, out: Issues) -> None:
    value = spec.get(field)
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        out.append(Issue(("spec", field), f"{field} must be greater than or equal to 0",
                         "range", f"set {field} to 0 or more"))


def check_cronjob(obj: dict[str, Any]) -> Issues:
    """A CronJob: name length, schedule, time zone, counters, and its Job template checked as
    a Job is (restart policy, selector, pod spec)."""
    out: Issues = []
    name = _d(obj.get("metadata")).get("name")
    if isinstance(name, str) and len(name) > CRONJOB_NAME_MAX:
        out.append(Issue(("metadata", "name"),
                         f"must be no more than {CRONJOB_NAME_MAX} characters",
                         "name-too-long",
                         "a CronJob's Jobs are named <cronjob>-<minutes>; shorten the name"))
    spec = _d(obj.get("spec"))
    schedule, zone = spec.get("schedule"), spec.get("timeZone")
    if isinstance(zone, str):
        try:
            parse_zone(zone)
        except CronError as e:
            out.append(Issue(("spec", "timeZone"), e.message, "time-zone", e.hint))
    if isinstance(schedule, str):
        try:
            parse_schedule(schedule)
        except CronError as e:
            out.append(Issue(("spec", "schedule"), e.message, "cron-schedule", e.hint))
    for field in ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                  "failedJobsHistoryLimit"):
        _not_negative(spec, field, out)
    template = _d(spec.get("jobTemplate"))
    if template:
        # The template is a Job without a name of its own: check it as one, then move each
        # issue under spec.jobTemplate.
        meta = {**_d(template.get("metadata")), "name": "template"}
        job = {"metadata": meta, "spec": _d(template.get("spec"))}
        at: Path = ("spec", "jobTemplate")
        out.extend(replace(i, path=(*at, *i.path))
                   for i in [*check_semantics(job, "Job"), *check_job(job)]
                   if i.path[:2] != ("metadata", "name"))
    return out


def check_job(obj: dict[str, Any]) -> Issues:
    """A Job's fields beyond the workload rules: ``ttlSecondsAfterFinished`` not negative."""
    out: Issues = []
    _not_negative(_d(obj.get("spec")), "ttlSecondsAfterFinished", out)
    return out


def check_priority_class(obj: dict[str, Any]) -> Issues:
    """A PriorityClass: reserved ``system-`` names, the user value range, preemptionPolicy."""
    out = [Issue(tuple(field.split(".")), message, "priority-class", hint)
           for field, message, hint in class_problems(obj)]
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in ("PreemptLowerPriority", "Never"):
        out.append(Issue(("preemptionPolicy",), f'unsupported value "{policy}"', "enum",
                         "use PreemptLowerPriority or Never"))
    return out


def _int_or_percent(spec: dict[str, Any], field: str, out: Issues) -> None:
    value = spec.get(field)
    if isinstance(value, str):
        digits = value[:-1] if value.endswith("%") else ""
        if not digits.isdigit():
            out.append(Issue(("spec", field), f'invalid value "{value}": an integer or a '
                             "percentage", "int-or-percent", 'e.g. 1 or "50%"'))
        elif int(digits) > 100:
            out.append(Issue(("spec", field), "must not be greater than 100%", "range",
                             "use a percentage from 0% to 100%"))
    elif isinstance(value, int) and not isinstance(value, bool) and value < 0:
        out.append(Issue(("spec", field), f"{field} must be greater than or equal to 0",
                         "range", f"set {field} to 0 or more"))


def check_pdb(obj: dict[str, Any]) -> Issues:
    """A PodDisruptionBudget: minAvailable or maxUnavailable (not both), each an integer
    of 0 or more or a percentage up to 100%."""
    out: Issues = []
    spec = _d(obj.get("spec"))
    for field in ("minAvailable", "maxUnavailable"):
        _int_or_percent(spec, field, out)
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        out.append(Issue(("spec", "maxUnavailable"),
                         "minAvailable and maxUnavailable cannot be both set", "exclusive",
                         "keep one of them"))
    return out


def _ingress_backend(backend: dict[str, Any], at: Path, out: Issues) -> None:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        out.append(Issue(at, "cannot set both service and resource backends", "exclusive",
                         "keep one of them"))
    elif service is None and resource is None:
        out.append(Issue(at, "one of service or resource is required", "required",
                         "e.g. service: {name: web, port: {number: 80}}"))
    port = _d(_d(service).get("port"))
    if isinstance(service, dict) and ("name" in port) == ("number" in port):
        out.append(Issue((*at, "service", "port"), "exactly one of port name or number is "
                         "required", "exclusive", "e.g. port: {number: 80}"))


def check_ingress(obj: dict[str, Any]) -> Issues:
    """An Ingress: a default backend or rules; each backend a service or a resource (a
    service port by name or number); Exact and Prefix paths absolute; hosts not IPs."""
    out: Issues = []
    spec = _d(obj.get("spec"))
    rules = spec.get("rules")
    if spec.get("defaultBackend") is None and not rules:
        out.append(Issue(("spec",), "either `defaultBackend` or `rules` must be specified",
                         "required", "add rules (host and paths) or a defaultBackend"))
    if isinstance(spec.get("defaultBackend"), dict):
        _ingress_backend(spec["defaultBackend"], ("spec", "defaultBackend"), out)
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        rule = _d(rule)
        host = rule.get("host")
        if isinstance(host, str) and host and host.replace(".", "").isdigit():
            out.append(Issue(("spec", "rules", i, "host"), f'invalid host "{host}": must be '
                             "a DNS name, not an IP address", "ingress-host",
                             "leave host out to match every host"))
        paths = _d(rule.get("http")).get("paths")
        for j, path in enumerate(paths if isinstance(paths, list) else []):
            path = _d(path)
            at: Path = ("spec", "rules", i, "http", "paths", j)
            value = path.get("path")
            if path.get("pathType") in ("Exact", "Prefix") and isinstance(value, str) and \
                    not value.startswith("/"):
                out.append(Issue((*at, "path"), f'invalid path "{value}": must be an '
                                 "absolute path", "ingress-path", f'write "/{value}"'))
            if isinstance(path.get("backend"), dict):
                _ingress_backend(path["backend"], (*at, "backend"), out)
    return out


def check_ingress_class(obj: dict[str, Any]) -> Issues:
    """An IngressClass: ``spec.controller`` a domain-prefixed path (``k8s.io/ingress-nginx``)."""
    controller = _d(obj.get("spec")).get("controller")
    if isinstance(controller, str) and "/" not in controller.strip("/"):
        return [Issue(("spec", "controller"), f'invalid controller "{controller}": must be a '
                      "domain-prefixed path", "ingress-class",
                      "e.g. k8s.io/ingress-nginx")]
    return []


KIND_RULES: dict[str, Callable[[dict[str, Any]], Issues]] = {
    "CronJob": check_cronjob,
    "Job": check_job,
    "PriorityClass": check_priority_class,
    "PodDisruptionBudget": check_pdb,
    "Ingress": check_ingress,
    "IngressClass": check_ingress_class,
}

__all__ = ["CRONJOB_NAME_MAX", "KIND_RULES", "check_cronjob"]
