"""The deployment stage and resource names, without building ``Settings``.

``import app`` needs only the stage (which blueprints to register, which
queues the workers consume): reading it here keeps pydantic, and in the cloud
the SSM fetch of the secrets, out of the Lambda's init. ``chalicelib.config``
validates the same variable with the same pattern when it builds
``Settings`` on the first invocation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

DEFAULT_STAGE = "local"
STAGE_PATTERN = r"^[a-z][a-z0-9-]{0,19}$"


def stage_from_environ(environ: Mapping[str, str]) -> str:
    """``PERMESSO_STAGE`` (empty or unset: ``local``); a malformed stage stops the start."""
    stage = environ.get("PERMESSO_STAGE") or DEFAULT_STAGE
    if not re.fullmatch(STAGE_PATTERN, stage):
        raise ValueError(f"PERMESSO_STAGE must match {STAGE_PATTERN}")
    return stage


def current_stage() -> str:
    return stage_from_environ(os.environ)


def resource_name(stage: str, name: str) -> str:
    """Physical name of a table, queue or topic: ``permesso-<stage>-<name>``."""
    return f"permesso-{stage}-{name}"
