"""gitkube.model.quantity: Kubernetes' quantity grammar and canonical form."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gitkube.model.quantity import canonicalize, parse_quantity, quantity_error


@pytest.mark.parametrize("text,canonical", [
    ("100m", "100m"), ("0.1", "100m"), (0.1, "100m"), ("1000m", "1"), ("1", "1"), (2, "2"),
    ("1000", "1k"), ("1500", "1500"), ("1.5Gi", "1536Mi"), ("1024Mi", "1Gi"),
    ("0.5Gi", "512Mi"), ("12Ki", "12Ki"), ("1e3", "1e3"), ("0.1n", "1n"), ("-2", "-2"),
    ("0", "0"), ("1.", "1"), (".5", "500m"), ("+3", "3"), ("1M", "1M"),
])
def test_canonical(text: str | float, canonical: str) -> None:
    assert canonicalize(text) == canonical


def test_equal_values_compare_equal() -> None:
    assert parse_quantity("0.1").value == parse_quantity("100m").value == Fraction(1, 10)
    assert parse_quantity("1Gi").to_int() == 1024**3
    assert parse_quantity("250m").milli == 250
    assert parse_quantity("1.5").milli == 1500


@pytest.mark.parametrize("text", ["", "Gi", "1.5 Gi", "10x", "1GB", "1e", "--1", "1e1000", "m"])
def test_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)
    assert quantity_error(text)


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}, float("nan")])
def test_invalid_types(value: object) -> None:
    assert quantity_error(value)
