"""A fast validator for gitkube's generated JSON Schemas.

``jsonschema`` interprets a schema on every call; validating a small Deployment that way
takes milliseconds. Here each schema node is compiled once into a small closure that
checks a value and returns None when it is valid (the common case, kept cheap) or a list of
errors. Only the keywords the generated schemas use are implemented: type, properties,
additionalProperties (false or a schema), items, required, enum, oneOf, minimum, maximum,
$ref/$defs, plus gitkube's annotations x-gitkube-unsupported and x-gitkube-accepts.
``format`` is not asserted (as in jsonschema by default): the generator turns the integer
formats int32 and int64 into minimum and maximum. tests/schema/test_schema_agreement.py checks this
against jsonschema's Draft202012Validator on the same files.

Errors travel upwards as ``[reversed_path, code, message, hint]`` lists; each level appends
its key, so paths are only built when something is wrong.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

Err = list[Any]  # [reversed path: list[str | int], code, message, hint | None]
Check = Callable[[Any], list[Err] | None]

_NAMES: dict[type, str] = {
    dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
    float: "number", type(None): "null",
}
_PYTYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float), "null": (type(None),),
}
_ARTICLE = {"object": "an object", "array": "a list", "integer": "an integer",
            "string": "a string", "boolean": "a boolean", "number": "a number", "null": "null"}


def _absent(value: Any) -> list[Err] | None:  # pragma: no cover - a marker, never called
    return None


_ABSENT: Check = _absent


def json_type(value: Any) -> str:
    """The JSON type name of a Python value (subclasses included)."""
    for py, name in _NAMES.items():
        if type(value) is py:
            return name
    if isinstance(value, bool):
        return "boolean"
    for py, name in _NAMES.items():
        if isinstance(value, py):
            return name
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    return isinstance(value, _PYTYPES[name])


def _type_error(value: Any, names: list[str]) -> Err:
    wanted = " or ".join(_ARTICLE[n] for n in names if n != "null") or "null"
    got = json_type(value)
    hint = None
    if "string" in names and got in ("integer", "number", "boolean", "date", "datetime"):
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        hint = f'YAML reads this as {_ARTICLE.get(got, got)}; quote it: "{shown}"'
    elif ("integer" in names or "number" in names) and isinstance(value, str):
        hint = "remove the quotes" if value.strip().lstrip("+-").isdigit() else None
    return [[], "type", f"must be {wanted}, not {_ARTICLE.get(got, got)}", hint]


def _neutral(value: Any, accepts: list[Any]) -> bool:
    """Whether an unsupported field's value asks for nothing (null, false, empty, default)."""
    return value is None or value is False or value in ({}, [], "") or value in accepts


Field = Callable[[Any, Any], list[Err] | None]  # (key, value) -> errors, paths under key


def _anything(key: Any, value: Any) -> list[Err] | None:
    return None


def _under(key: Any, errs: list[Err]) -> list[Err]:
    """``errs`` with ``key`` appended to each (reversed) path."""
    for e in errs:
        e[0].append(key)
    return errs


def _not_an_object(value: Any, names: list[str]) -> list[Err] | None:
    """The error for a value that is not an object: none for null where the schema allows
    it, nor for anything where the schema names no type (JSON Schema semantics)."""
    if not names or (value is None and "null" in names):
        return None
    return [_type_error(value, names)]


def _unsupported(value: dict[str, Any], unsupported: dict[str, tuple[str, list[Any]]],
                 errs: list[Err] | None) -> list[Err] | None:
    """``errs`` and an error for each field of ``value`` gitkube does not support, unless
    its value asks for nothing or is already wrong (a value Kubernetes refuses gets that
    error alone: one cause, one error)."""
    wrong = {e[0][-1] for e in errs if e[0]} if errs else set()
    for k in sorted(unsupported.keys() & value.keys()):
        reason, accepts = unsupported[k]
        if k not in wrong and not _neutral(value[k], accepts):
            hint = (
                f"{reason}; remove the field"
                if reason and "not supported by gitkube" not in reason
                else "remove the field: gitkube would not honour it"
            )
            e = [[k], "unsupported-field",
                 f'field "{k}" is valid in Kubernetes, not supported by gitkube', hint]
            errs = [e] if errs is None else [*errs, e]
    return errs


def _missing(value: dict[str, Any], required: tuple[str, ...],
             errs: list[Err] | None) -> list[Err] | None:
    """``errs`` and an error for each ``required`` field ``value`` lacks."""
    for k in required:
        if k not in value:
            e = [[k], "required", f'missing required field "{k}"', None]
            errs = [e] if errs is None else [*errs, e]
    return errs


class Compiler:
    """Compiles schema nodes; ``$ref``s resolve by definition name into ``defs``."""

    def __init__(self, defs: dict[str, Any]):
        self._defs = defs
        self._compiled: dict[str, Check | None] = {}
        self._in_progress: set[str] = set()
        # field name -> definitions that have it (supported there), for "belongs elsewhere"
        self._owners: dict[str, list[str]] = {}
        self._near: dict[str, list[str]] = {}
        for def_name, schema in sorted(defs.items()):
            for key, sub in schema.get("properties", {}).items():
                if "x-gitkube-unsupported" not in sub and not def_name.endswith("Status"):
                    self._owners.setdefault(key, []).append(def_name.rsplit(".", 1)[-1])

    def _close_anywhere(self, key: str) -> list[str]:
        """A near miss among every field name of every kind (errors only; memoised, and
        compared only with names of similar length, so junk keys stay cheap)."""
        if key not in self._near:
            if len(self._near) > 10_000:
                self._near.clear()
            n = len(key)
            pool = [k for k in self._owners if abs(len(k) - n) <= 2]
            self._near[key] = difflib.get_close_matches(key, pool, n=1, cutoff=0.8)
        return self._near[key]

    def _owned_by(self, key: str) -> str:
        where = self._owners[key]
        return ", ".join(where[:3]) + (", ..." if len(where) > 3 else "")

    def ref(self, ref: str) -> Check | None:
        name = ref.rsplit("/", 1)[-1]
        if name in self._compiled:
            return self._compiled[name]
        if name in self._in_progress:  # recursion: resolve at call time
            compiled = self._compiled

            def late(value: Any) -> list[Err] | None:
                check = compiled[name]
                return check(value) if check else None

            return late
        self._in_progress.add(name)
        check = self.compile(self._defs[name])
        self._in_progress.discard(name)
        self._compiled[name] = check
        return check

    def compile(self, schema: dict[str, Any]) -> Check | None:
        """A check for ``schema``, or None when it accepts every value."""
        if "$ref" in schema:
            return self.ref(schema["$ref"])
        if "oneOf" in schema:
            return self._one_of(schema["oneOf"])
        raw_type = schema.get("type")
        names: list[str] = (
            [raw_type] if isinstance(raw_type, str) else list(raw_type) if raw_type else []
        )
        if "properties" in schema or schema.get("additionalProperties") is False:
            return self._object(schema, names)
        if "additionalProperties" in schema:
            return self._map(schema, names)
        if "items" in schema:
            return self._array(schema, names)
        if "enum" in schema:
            return self._enum(schema["enum"], names)
        if "minimum" in schema or "maximum" in schema:
            return self._bounded(names, schema.get("minimum"), schema.get("maximum"),
                                 str(schema.get("format") or ""))
        if names:
            return self._leaf(names)
        return None

    # -- leaves -------------------------------------------------------------------------------

    def _leaf(self, names: list[str]) -> Check:
        fast = frozenset(t for n in names for t in _PYTYPES[n])

        def check(value: Any) -> list[Err] | None:
            if type(value) in fast:
                return None
            if any(_is_type(value, n) for n in names):
                return None
            return [_type_error(value, names)]

        return check

    def _bounded(self, names: list[str], low: int | None, high: int | None,
                 fmt: str) -> Check:
        typed = self._leaf(names)
        what = f" (an {fmt})" if fmt else ""

        def check(value: Any) -> list[Err] | None:
            err = typed(value)
            if err or value is None or isinstance(value, bool):
                return err
            if low is not None and value < low:
                return [[[], "range", f"must be at least {low}{what}, not {value}", None]]
            if high is not None and value > high:
                return [[[], "range", f"must be at most {high}{what}, not {value}", None]]
            return None

        return check

    def _enum(self, values: list[Any], names: list[str]) -> Check:
        allowed = frozenset(values)
        shown = ", ".join(str(v) for v in values if v is not None)
        typed = self._leaf(names) if names else None

        def check(value: Any) -> list[Err] | None:
            if type(value) is str or value is None:
                if value in allowed:
                    return None
            elif typed is not None:
                err = typed(value)
                if err:
                    return err
            return [[[], "enum", f'unsupported value "{value}": must be one of {shown}', None]]

        return check

    def _one_of(self, branches: list[dict[str, Any]]) -> Check:
        checks = [self.compile(b) for b in branches]

        def check(value: Any) -> list[Err] | None:
            ok = sum(1 for c in checks if c is None or not c(value))
            if ok == 1:
                return None
            kinds = " or ".join(
                "/".join(_ARTICLE[n] for n in ([b["type"]] if isinstance(b.get("type"), str)
                                                else b.get("type", [])) if n != "null")
                for b in branches
            )
            if ok == 0:
                return [[[], "type", f"must be {kinds}, not {json_type(value)}", None]]
            return [[[], "type", f"must be exactly one of {kinds}", None]]

        return check

    # -- containers ---------------------------------------------------------------------------

    def _array(self, schema: dict[str, Any], names: list[str]) -> Check:
        item = self.compile(schema["items"])
        nullable = "null" in names

        def check(value: Any) -> list[Err] | None:
            if type(value) is not list and not isinstance(value, list):
                if (value is None and nullable) or not names:
                    return None
                return [_type_error(value, names)]
            if item is None:
                return None
            errs: list[Err] | None = None
            for i, x in enumerate(value):
                r = item(x)
                if r:
                    for e in r:
                        e[0].append(i)
                    errs = r if errs is None else errs + r
            return errs

        return check

    def _map(self, schema: dict[str, Any], names: list[str]) -> Check:
        values = self.compile(schema["additionalProperties"])
        nullable = "null" in names

        def check(value: Any) -> list[Err] | None:
            if type(value) is not dict and not isinstance(value, dict):
                if (value is None and nullable) or not names:
                    return None
                return [_type_error(value, names)]
            errs: list[Err] | None = None
            for k, x in value.items():
                if type(k) is not str:
                    bad: Err = [[str(k)], "type", f"key {k!r} must be a string",
                                f'quote it: "{k}"']
                    errs = [bad] if errs is None else [*errs, bad]
                    continue
                if values is None:
                    continue
                r = values(x)
                if r:
                    for e in r:
                        e[0].append(k)
                    errs = r if errs is None else errs + r
            return errs

        return check

    def _object(self, schema: dict[str, Any], names: list[str]) -> Check:
        props_schema: dict[str, Any] = schema.get("properties", {})
        props: dict[str, Check | None] = {key: self.compile(sub)
                                          for key, sub in props_schema.items()}
        unsupported: dict[str, tuple[str, list[Any]]] = {
            key: (sub["x-gitkube-unsupported"], sub.get("x-gitkube-accepts", []))
            for key, sub in props_schema.items() if "x-gitkube-unsupported" in sub
        }
        unsupported_keys = frozenset(unsupported)
        required = tuple(schema.get("required", ()))
        other = self._other_field(schema.get("additionalProperties", True),
                                  sorted(k for k in props if k not in unsupported))

        def check(value: Any) -> list[Err] | None:
            if type(value) is not dict and not isinstance(value, dict):
                return _not_an_object(value, names)
            errs: list[Err] | None = None
            r: list[Err] | None
            for k, x in value.items():
                c = props.get(k, _ABSENT)
                if c is _ABSENT:
                    r = other(k, x)
                elif c is not None and (r := c(x)):
                    _under(k, r)
                else:
                    continue
                if r:
                    errs = r if errs is None else errs + r
            if unsupported_keys and not unsupported_keys.isdisjoint(value):
                errs = _unsupported(value, unsupported, errs)
            if required:
                errs = _missing(value, required, errs)
            return errs

        return check

    def _other_field(self, additional: Any, supported: list[str]) -> Field:
        """The check of a field an object's ``properties`` do not name: an unknown field
        when ``additional`` is false, its schema when it is one, else anything goes."""
        if additional is False:
            return lambda key, value: [self._unknown(key, supported)]
        extra = self.compile(additional) if isinstance(additional, dict) else None
        if extra is None:
            return _anything

        def check(key: Any, value: Any) -> list[Err] | None:
            r = extra(value)
            return _under(key, r) if r else None

        return check

    def _unknown(self, key: Any, supported: list[str]) -> Err:
        """An unknown field, with the likeliest fix as its hint (see :func:`suggested`)."""
        folded = str(key).lower()
        close = [k for k in supported if k.lower() == folded] or \
            difflib.get_close_matches(str(key), supported, n=1, cutoff=0.6)
        if close:
            hint: str | None = f"did you mean {close[0]}?"
        elif str(key) in self._owners:
            hint = f'"{key}" is a field of {self._owned_by(str(key))}, not of this ' \
                   "object: is it indented at the wrong level?"
        elif elsewhere := self._close_anywhere(str(key)):
            hint = (f"did you mean {elsewhere[0]}? (a field of "
                    f"{self._owned_by(elsewhere[0])}, not of this object)")
        elif len(supported) <= 24:
            hint = "fields here: " + ", ".join(supported)
        else:
            hint = None
        return [[key], "unknown-field", f'unknown field "{key}"', hint]


_SUGGESTION = re.compile(r"did you mean ([^ ?]+)\?")


def suggested(hint: str | None) -> str | None:
    """The field of the same object an unknown-field hint proposes instead, if it does."""
    m = _SUGGESTION.fullmatch(hint or "")
    return m.group(1) if m else None
