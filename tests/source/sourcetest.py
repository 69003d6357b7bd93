"""The loader and the validator as the CLI calls them: their options (content cache under the
state directory, GITKUBE_MAX_FILE_BYTES, GITKUBE_JOBS) read from this test's environment."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from gitkube import source
from gitkube import validate as validation
from gitkube.settings import Settings
from gitkube.source.loader import LoadResult, SourceOptions


def env_options(*, use_cache: bool = True, max_bytes: int | None = None) -> SourceOptions:
    options = SourceOptions.of(Settings.from_env(os.environ))
    if not use_cache:
        options = dataclasses.replace(options, cache_dir=None)
    if max_bytes is not None:
        options = dataclasses.replace(options, max_file_bytes=max_bytes)
    return options


def load(path: str | Path, revision: str | None = None, *, use_cache: bool = True,
         max_bytes: int | None = None, **kwargs: Any) -> LoadResult:
    return source.load(path, revision, options=env_options(use_cache=use_cache,
                                                           max_bytes=max_bytes), **kwargs)


def validate(path: str | Path, revision: str | None = None,
             **kwargs: Any) -> validation.Report:
    return validation.validate(path, revision, options=env_options(), **kwargs)


def load_valid(path: str | Path, revision: str | None = None) -> LoadResult:
    return validation.load_valid(path, revision, options=env_options())
