"""Names, labels and selectors: Kubernetes' syntax rules and label selector matching.

Each ``*_error`` function returns None when the value is valid, else a short reason written
the way Kubernetes words it, so callers can build messages without re-deriving the rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from gitkube.errors import GitkubeError

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(_LABEL)
_DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DNS1035_LABEL = re.compile(r"[a-z](?:[-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_IANA_SVC_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_HAS_LETTER = re.compile(r"[a-z]")

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253


def dns1123_label_error(value: str) -> str | None:
    """RFC 1123 label: Namespace names, container and volume names, most label-like names."""
    if len(value) > DNS1123_LABEL_MAX:
        return f"must be no more than {DNS1123_LABEL_MAX} characters"
    if not _DNS1123_LABEL.fullmatch(value):
        return (
            "must consist of lower case alphanumeric characters or '-', and must start "
            "and end with an alphanumeric character (e.g. 'my-name' or '123-abc')"
        )
    return None


def dns1123_subdomain_error(value: str) -> str | None:
    """RFC 1123 subdomain: the names of most objects (Deployment, ConfigMap, Pod, ...)."""
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        return (
            "must consist of lower case alphanumeric characters, '-' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'example.com')"
        )
    return None


def dns1035_label_error(value: str) -> str | None:
    """RFC 1035 label: Service names (they become DNS names and environment variables)."""
    if len(value) > DNS1123_LABEL_MAX:
        return f"must be no more than {DNS1123_LABEL_MAX} characters"
    if not _DNS1035_LABEL.fullmatch(value):
        return (
            "must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character (e.g. 'my-name')"
        )
    return None


def port_name_error(value: str) -> str | None:
    """IANA service name: container and service port names."""
    if len(value) > 15:
        return "must be no more than 15 characters"
    if not _IANA_SVC_NAME.fullmatch(value):
        return "must contain only lower case alphanumeric characters or '-'"
    if "--" in value:
        return "must not contain consecutive hyphens"
    if not _HAS_LETTER.search(value):
        return "must contain at least one letter (a-z)"
    return None


@lru_cache(maxsize=8192)
def qualified_name_error(key: str) -> str | None:
    """A label or annotation key: ``[prefix/]name``, prefix a DNS subdomain (<= 253),
    name <= 63 characters of alphanumerics, '-', '_' and '.' starting and ending
    alphanumeric."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return "prefix part must be non-empty"
        err = dns1123_subdomain_error(prefix)
        if err:
            return f"prefix part {err}"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName', 'my.name', "
            "'123-abc')"
        )
    return None


@lru_cache(maxsize=8192)
def label_value_error(value: str) -> str | None:
    """A label value: empty, or <= 63 alphanumerics, '-', '_', '.' starting and ending
    alphanumeric."""
    if value == "":
        return None
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _QUALIFIED_NAME.fullmatch(value):
        return (
            "must be empty or consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character"
        )
    return None


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, Any] | None) -> bool:
    """Whether a LabelSelector (``matchLabels`` and ``matchExpressions``) selects ``labels``.

    An empty selector selects everything; a None selector selects nothing (Kubernetes'
    convention for a missing selector)."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    exprs = selector.get("matchExpressions") or ()
    return all(_requirement_matches(req, labels) for req in exprs)


def _requirement_matches(req: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    key = str(req.get("key"))
    op = req.get("operator")
    values = req.get("values") or ()
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


_SET_RE = re.compile(
    r"\s*(!)?\s*([^\s,!=()]+)(?:\s*(==|=|!=)\s*([^\s,()]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*"
)


def parse_selector(text: str) -> dict[str, Any]:
    """Parse a label selector string (``app=web,tier!=db,env in (a,b),!legacy,gpu``)
    into a LabelSelector dict; ValueError on bad syntax."""
    match_labels: dict[str, str] = {}
    exprs: list[dict[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _SET_RE.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"invalid label selector {text!r} at position {pos}")
        neg, key, op, value, set_op, set_values = m.groups()
        if neg and (op or set_op):
            raise ValueError(f"invalid label selector {text!r}: '!' only before a key")
        if neg:
            exprs.append({"key": key, "operator": "DoesNotExist"})
        elif op in ("=", "=="):
            match_labels[key] = value
        elif op == "!=":
            exprs.append({"key": key, "operator": "NotIn", "values": [value]})
        elif set_op:
            vals = [v.strip() for v in set_values.split(",") if v.strip()]
            exprs.append({"key": key, "operator": "In" if set_op == "in" else "NotIn",
                          "values": vals})
        else:
            exprs.append({"key": key, "operator": "Exists"})
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise ValueError(f"invalid label selector {text!r} at position {pos}")
            pos += 1
    out: dict[str, Any] = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if exprs:
        out["matchExpressions"] = exprs
    return out


# --- Selector objects (the api layer's list/watch filters) -----------------------------------
# Owned by the api engineer. Label selectors in either form — the string form of
# ``?labelSelector=`` / ``kubectl -l`` (``a=b,c!=d,e in (x,y),f notin (z),g,!h``, also ``==``
# and ``k>1``/``k<1``) and the object form of manifests (``matchLabels`` + ``matchExpressions``
# In/NotIn/Exists/DoesNotExist/Gt/Lt) — parse to one ``Selector``. An empty selector matches
# everything; ``from_label_selector(None)`` matches nothing (as ``selector_matches`` above).
# Field selectors support ``=``, ``==``, ``!=`` on ``FIELDS``; a missing field compares as ""
# (``spec.nodeName=`` selects unscheduled pods). Parse errors raise SelectorError (ValueError).

Operator = Literal["=", "!=", "in", "notin", "exists", "!", "gt", "lt"]
_INT = re.compile(r"-?\d+")


class SelectorError(GitkubeError, ValueError):
    """A selector that cannot be parsed; the message names the offending part. Still a
    ValueError, as it always was."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, Any]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        op = self.operator
        if op == "exists":
            return present
        if op == "!":
            return not present
        if op in ("=", "in"):
            return present and value in self.values
        if op in ("!=", "notin"):
            return not present or value not in self.values
        if not present or not _INT.fullmatch(str(value)):
            return False  # gt / lt need an integer label
        number, bound = int(str(value)), int(self.values[0])
        return number > bound if op == "gt" else number < bound

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return f"!{self.key}"
        if op in ("in", "notin"):
            return f"{self.key} {op} ({','.join(self.values)})"
        symbol = {"gt": ">", "lt": "<"}.get(op, op)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True)
class Selector:
    """A parsed label selector: every requirement must hold."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @classmethod
    def parse(cls, text: str) -> Selector:
        return parse_label_selector(text)

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> Selector:
        return from_label_selector(selector)

    @classmethod
    def of(cls, arg: str | Mapping[str, Any] | Selector | None) -> Selector:
        """Normalise any accepted form (None selects everything)."""
        return as_selector(arg)

    def matches(self, labels: Mapping[str, Any] | None) -> bool:
        if self.matches_nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def matches_object(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata")
        labels = meta.get("labels") if isinstance(meta, Mapping) else None
        return self.matches(labels if isinstance(labels, Mapping) else None)

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.matches_nothing

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = Selector()
NOTHING = Selector(matches_nothing=True)


def _check_key(key: str, where: str) -> str:
    err = qualified_name_error(key)
    if err:
        raise SelectorError(f"invalid label key {key!r} in selector {where!r}: {err}")
    return key


def _check_value(value: str, where: str) -> str:
    err = label_value_error(value)
    if err:
        raise SelectorError(f"invalid label value {value!r} in selector {where!r}: {err}")
    return value


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms: list[str] = []
    depth = start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced ')' in selector {text!r}")
        elif ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    if depth:
        raise SelectorError(f"unbalanced '(' in selector {text!r}")
    terms.append(text[start:])
    return terms


_TERM_SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_TERM_CMP = re.compile(r"^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(\S*)$")


def _parse_term(term: str, text: str) -> Requirement:
    term = term.strip()
    if not term:
        raise SelectorError(f"empty requirement in selector {text!r}")
    m = _TERM_SET.match(term)
    if m:
        key, op, inner = m.groups()
        values = tuple(sorted({_check_value(v.strip(), text) for v in inner.split(",")}))
        return Requirement(_check_key(key, text), "in" if op == "in" else "notin", values)
    m = _TERM_CMP.match(term)
    if m:
        key, symbol, value = m.groups()
        _check_key(key, text)
        if symbol in (">", "<"):
            if not _INT.fullmatch(value):
                raise SelectorError(f"{term!r} in selector {text!r}: {symbol} needs an integer")
            return Requirement(key, "gt" if symbol == ">" else "lt", (value,))
        return Requirement(key, "!=" if symbol == "!=" else "=", (_check_value(value, text),))
    if term.startswith("!"):
        return Requirement(_check_key(term[1:].strip(), text), "!")
    return Requirement(_check_key(term, text), "exists")


def parse_label_selector(text: str | None) -> Selector:
    """The string form; None or blank selects everything."""
    if text is None or not text.strip():
        return EVERYTHING
    return Selector(tuple(_parse_term(t, text) for t in _split_terms(text)))


_EXPRESSION_OPS: dict[str, Operator] = {
    "In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!", "Gt": "gt",
    "Lt": "lt",
}


def from_label_selector(selector: Mapping[str, Any] | None) -> Selector:
    """The object form; None selects nothing, ``{}`` everything."""
    if selector is None:
        return NOTHING
    where = str(dict(selector))
    reqs = [
        Requirement(_check_key(str(k), where), "=", (str(v),))
        for k, v in sorted((selector.get("matchLabels") or {}).items())
    ]
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, Mapping):
            raise SelectorError(f"matchExpressions entries must be objects, got {expr!r}")
        name = str(expr.get("operator"))
        op = _EXPRESSION_OPS.get(name)
        if op is None:
            raise SelectorError(f"unknown matchExpressions operator {name!r}")
        key = _check_key(str(expr.get("key", "")), where)
        values = tuple(str(v) for v in expr.get("values") or [])
        if op in ("in", "notin") and not values:
            raise SelectorError(f"operator {name} on {key!r} needs values")
        if op in ("exists", "!") and values:
            raise SelectorError(f"operator {name} on {key!r} takes no values")
        if op in ("gt", "lt") and (len(values) != 1 or not _INT.fullmatch(values[0])):
            raise SelectorError(f"operator {name} on {key!r} needs exactly one integer")
        reqs.append(Requirement(key, op, tuple(sorted(set(values)))))
    return Selector(tuple(reqs))


def as_selector(selector: str | Mapping[str, Any] | Selector | None) -> Selector:
    """Any form: a Selector, the string form, the object form, or None (everything)."""
    if selector is None:
        return EVERYTHING
    if isinstance(selector, Selector):
        return selector
    if isinstance(selector, str):
        return parse_label_selector(selector)
    return from_label_selector(selector)


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """The string form of an object-form selector, as kubectl shows it (``app=web``)."""
    return "" if selector is None else str(from_label_selector(selector))


FIELDS: frozenset[str] = frozenset({
    "metadata.name", "metadata.namespace", "spec.nodeName", "spec.schedulerName",
    "spec.serviceAccountName", "spec.restartPolicy", "spec.unschedulable", "status.phase",
    "status.podIP", "status.nominatedNodeName", "type", "reason", "source",
    "reportingComponent", "involvedObject.kind", "involvedObject.namespace",
    "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
    "involvedObject.resourceVersion", "involvedObject.fieldPath",
})


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value of a dotted field (``spec.nodeName``); "" when absent; booleans as
    ``true``/``false``; an Event's ``source`` is its ``source.component``."""
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if path == "source" and isinstance(node, Mapping):
        node = node.get("component")
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negated: bool
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (field_value(obj, self.field) == self.value) != self.negated

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negated else '='}{self.value}"


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector (``metadata.name=web,status.phase!=Running``)."""

    requirements: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        return parse_field_selector(text)

    @classmethod
    def of(cls, arg: str | FieldSelector | None) -> FieldSelector:
        return as_field_selector(arg)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_FIELD_TERM = re.compile(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$")


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse ``a=b,c!=d``; an unsupported field raises SelectorError naming it."""
    if text is None or not text.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for term in text.split(","):
        m = _FIELD_TERM.match(term)
        if not m:
            raise SelectorError(f"invalid field selector term {term!r} in {text!r}")
        field, op, value = m.groups()
        if field not in FIELDS:
            raise SelectorError(f'field label not supported: "{field}" '
                                f"(supported: {', '.join(sorted(FIELDS))})")
        reqs.append(FieldRequirement(field, op == "!=", value))
    return FieldSelector(tuple(reqs))


def as_field_selector(selector: str | FieldSelector | None) -> FieldSelector:
    if isinstance(selector, FieldSelector):
        return selector
    return parse_field_selector(selector)
