"""Fixtures for the schema tests (the data lives in schemadata.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.schema.schemadata import CONFIGMAP, DEPLOYMENT, JOB, SERVICE


@pytest.fixture
def deployment() -> dict[str, Any]:
    return copy.deepcopy(DEPLOYMENT)


@pytest.fixture
def service() -> dict[str, Any]:
    return copy.deepcopy(SERVICE)


@pytest.fixture
def job() -> dict[str, Any]:
    return copy.deepcopy(JOB)


@pytest.fixture
def configmap() -> dict[str, Any]:
    return copy.deepcopy(CONFIGMAP)
