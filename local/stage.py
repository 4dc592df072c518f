"""The Chalice stage environment of the local stack, shared by the API, the worker and bootstrap.

``chalice local --stage local`` overwrites ``os.environ`` with the stage's
``environment_variables`` from ``.chalice/config.json`` just before it imports
``app.py``; variables that config.json does not name are left as the process got
them (that is how the secrets arrive). Two values depend on how the stack was
started — the moto server's port and the API's own address — so the launcher
(``local.run``) decides them at run time, and they win over config.json:
``RUNTIME_OVERRIDES``. Everything else comes from config.json exactly as
Chalice merges it (global, then stage), so the API, the worker and bootstrap
see the same settings a deployed Lambda of that stage would.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.constants import DEFAULT_LAMBDA_ARCHITECTURE, DEFAULT_LAMBDA_MEMORY_SIZE, DEFAULT_LAMBDA_TIMEOUT

PROJECT_DIR = Path(__file__).resolve().parent.parent
LOCAL_STAGE = "local"
# Decided by local.run for the ports in use; they override config.json's values.
RUNTIME_OVERRIDES = ("PERMESSO_AWS_ENDPOINT_URL", "PERMESSO_PUBLIC_BASE_URL")


def stage_config(stage: str = LOCAL_STAGE) -> Config:
    """The project's Chalice config for ``stage``, as ``chalice local`` builds it."""
    return CLIFactory(str(PROJECT_DIR)).create_config_obj(chalice_stage_name=stage)


def runtime_overrides(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in RUNTIME_OVERRIDES if environ.get(name)}


def stage_environment(stage: str = LOCAL_STAGE, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables Chalice gives the stage's functions, with the run-time overrides applied."""
    env = {name: str(value) for name, value in stage_config(stage).environment_variables.items()}
    env.update(runtime_overrides(environ))
    return env


@dataclass(frozen=True)
class FunctionSettings:
    """What Lambda would tell a function about itself (for the worker's context object)."""

    timeout_seconds: int = DEFAULT_LAMBDA_TIMEOUT
    memory_mb: int = DEFAULT_LAMBDA_MEMORY_SIZE
    architecture: str = DEFAULT_LAMBDA_ARCHITECTURE


@lru_cache(maxsize=64)
def function_settings(name: str, stage: str = LOCAL_STAGE) -> FunctionSettings:
    """Timeout, memory and architecture of the function Chalice names ``name`` (its handler's
    name), as Chalice packages it (its defaults where config.json says nothing)."""
    scoped = stage_config(stage).scope(stage, name)
    return FunctionSettings(
        timeout_seconds=int(scoped.lambda_timeout or DEFAULT_LAMBDA_TIMEOUT),
        memory_mb=int(scoped.lambda_memory_size or DEFAULT_LAMBDA_MEMORY_SIZE),
        architecture=str(scoped.lambda_architecture or DEFAULT_LAMBDA_ARCHITECTURE),
    )


def import_app_module(stage: str = LOCAL_STAGE) -> ModuleType:
    """Import ``app.py`` the way ``chalice local`` does: stage environment first.

    Settings are read once and table names are bound at import time, so this
    must run before anything imports ``chalicelib``.
    """
    os.environ.update(stage_environment(stage))
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    return importlib.import_module("app")
