"""Kubernetes resource quantities: parse, compare and canonicalise ``100m``, ``1.5Gi``, ``1e3``.

The grammar is Kubernetes' own (k8s.io/apimachinery/pkg/api/resource)::

    quantity  ::= sign? number suffix?
    number    ::= digits | digits "." digits? | "." digits
    suffix    ::= binarySI (Ki Mi Gi Ti Pi Ei) | decimalSI (n u m k M G T P E)
                | ("e" | "E") sign? digits

Values are exact (``Fraction``); the canonical form is what the Kubernetes API server writes
back, so ``0.1`` and ``100m`` canonicalise to the same string and plan can compare them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Literal

Format = Literal["BinarySI", "DecimalSI", "DecimalExponent"]

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}

_RE = re.compile(
    r"(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)
_NANO = Fraction(1, 10**9)


@dataclass(frozen=True)
class Quantity:
    """An exact amount and the notation it was written in (kept for canonical output)."""

    value: Fraction
    format: Format = "DecimalSI"

    def __str__(self) -> str:
        return self.canonical()

    @property
    def milli(self) -> int:
        """The value in thousandths, rounded up (``100m`` cpu -> 100)."""
        return math.ceil(self.value * 1000)

    def to_int(self) -> int:
        """The value rounded up to a whole number (memory in bytes, pods)."""
        return math.ceil(self.value)

    def canonical(self) -> str:
        """Kubernetes' canonical string: ``0.1`` -> ``100m``, ``1024Mi`` -> ``1Gi``,
        ``1.5Gi`` -> ``1536Mi``, ``1000`` -> ``1k``. Precision is 1n, rounded up."""
        value = _round_up_nano(self.value)
        if value == 0:
            return "0"
        sign = "-" if value < 0 else ""
        value = abs(value)
        if self.format == "BinarySI" and value.denominator == 1 and value >= 1024:
            n = value.numerator
            exp = 0
            while exp < 60 and n % 1024 == 0 and n >= 1024:
                n //= 1024
                exp += 10
            return f"{sign}{n}{_BINARY_SUFFIX.get(exp, '')}"
        # Decimal: the largest multiple-of-3 exponent leaving an integer mantissa.
        scaled = value * 10**9  # an integer after rounding to nano precision
        mantissa = int(scaled)
        exp = -9
        while exp < 18 and mantissa % 1000 == 0:
            mantissa //= 1000
            exp += 3
        if self.format == "DecimalExponent":
            return f"{sign}{mantissa}" + (f"e{exp}" if exp else "")
        return f"{sign}{mantissa}{_DECIMAL_SUFFIX[exp]}"


def _round_up_nano(value: Fraction) -> Fraction:
    if (value / _NANO).denominator == 1:
        return value
    return Fraction(math.ceil(value / _NANO)) * _NANO


def parse_quantity(text: str | int | float) -> Quantity:
    """Parse a quantity as written in a manifest (a string, or a YAML/JSON number).

    Raises ValueError with a readable reason when ``text`` is not a quantity."""
    if isinstance(text, bool):
        raise ValueError("a quantity must be a string or a number, not a boolean")
    if isinstance(text, int):
        return Quantity(Fraction(text))
    if isinstance(text, float):
        if not math.isfinite(text):
            raise ValueError(f"{text!r} is not a finite number")
        return _parse_string(repr(text))
    return _parse_string(text)


@lru_cache(maxsize=4096)
def _parse_string(text: str) -> Quantity:
    # Manifests repeat a handful of values ("100m", "64Mi"): parse each once.
    m = _RE.fullmatch(text)
    if m is None:
        raise ValueError(
            f'"{text}" is not a quantity (e.g. 100m, 0.5, 128Mi, 1.5Gi, 1e3)'
        )
    number = Fraction(m["num"])
    suffix = m["suffix"] or ""
    if suffix in _BINARY:
        return Quantity(number * 2 ** _BINARY[suffix], "BinarySI")
    if suffix in _DECIMAL:
        return Quantity(number * Fraction(10) ** _DECIMAL[suffix], "DecimalSI")
    exponent = int(suffix[1:])
    if abs(exponent) > 100:
        raise ValueError(f'"{text}": exponent out of range')
    return Quantity(number * Fraction(10) ** exponent, "DecimalExponent")


def quantity_error(value: object) -> str | None:
    """Why ``value`` is not a valid quantity, or None when it is."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return "a quantity must be a string or a number"
    if isinstance(value, str) and _RE.fullmatch(value) and "e" not in value.lower():
        return None  # the common case, without building the value
    try:
        parse_quantity(value)
    except ValueError as exc:
        return str(exc)
    return None


def canonicalize(text: str | int | float) -> str:
    """The canonical string of a quantity (``0.1`` -> ``100m``); ValueError if invalid."""
    return parse_quantity(text).canonical()
