"""Infrastructure tests: synthesise the stack in-process and assert on the template.

They need the CDK (``infra/requirements.txt``) and run from ``make infra`` in
``infra/.venv``; where ``aws_cdk`` is not installed (the app's own venv) this
folder is not collected at all.

Synthesis binds chalicelib to the stage being synthesised (table and queue
names are fixed at import), so the stage is set to ``prod`` here, before
anything imports chalicelib; the stage's settings come from the real
``infra/config.json``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("aws_cdk") is None:
    collect_ignore_glob = ["*"]
else:
    os.environ["PERMESSO_STAGE"] = "prod"
    os.environ["AWS_DEFAULT_REGION"] = "eu-central-1"
    for _name in ("PERMESSO_SECRETS_PARAMETER_PATH", "PERMESSO_AWS_ENDPOINT_URL"):
        os.environ.pop(_name, None)
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_APP = Path(__file__).resolve().parent / "fixture_app"


@dataclass
class Synth:
    stack: Any  # infra.stack.PermessoStack
    template: Any  # aws_cdk.assertions.Template

    @property
    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = self.template.to_json()
        return result

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.json["Resources"].items() if value["Type"] == kind}


@contextmanager
def _app_module(source_dir: Path) -> Iterator[None]:
    """Chalice packages by ``import app``: let it import ``source_dir``'s app, then put back
    whatever ``app`` module was loaded before (the real one).  The real app is imported once
    per process: importing it again would register its blueprints twice."""
    if source_dir == ROOT:
        yield
        return
    saved = sys.modules.pop("app", None)
    inserted = str(source_dir) not in sys.path
    if inserted:
        sys.path.insert(0, str(source_dir))
    try:
        yield
    finally:
        sys.modules.pop("app", None)
        if saved is not None:
            sys.modules["app"] = saved
        if inserted:
            sys.path.remove(str(source_dir))


def synthesise(
    workdir: Path, source_dir: Path = ROOT, access: Mapping[str, Any] | None = None, **overrides: Any
) -> Synth:
    """Build the prod stage's stack (with ``overrides`` of infra/config.json) and its template."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.access import FUNCTIONS
    from infra.config import load_stage
    from infra.stack import PermessoStack

    config = load_stage("prod", **overrides)
    app = cdk.App(outdir=str(workdir / "cdk.out"))
    cwd = Path.cwd()
    os.chdir(workdir)  # chalice.cdk writes its package under the working directory
    try:
        with _app_module(source_dir):
            stack = PermessoStack(app, config, source_dir=source_dir, access=access or FUNCTIONS)
        return Synth(stack, Template.from_stack(stack))
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The product as it is: the real app, infra/config.json's prod stage."""
    return synthesise(tmp_path_factory.mktemp("prod"))


# The fixture app's functions and what they may do (the real table waits for the real workers).
def worker_access() -> dict[str, Any]:
    from infra.access import FUNCTIONS, Access, append, read, write

    return {
        "api_handler": FUNCTIONS["api_handler"],
        "handle_send": Access(
            tables=write("throttle", "account-stats") | read("accounts", "clients", "suppressions"),
            send_to=("send",),
            sends_email=True,
            secrets=("token_keys", "email_hash_key"),
        ),
        "handle_ses_events": Access(
            tables=write("suppressions", "account-stats", "clients") | append("consent-events"),
            secrets=("email_hash_key",),
        ),
        "segment_due_campaigns": Access(tables=read("clients"), send_to=("jobs",)),
    }


WORKER_CONCURRENCY = 4


@pytest.fixture(scope="session")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """A stage with SQS and schedule handlers (the fixture app), deletion protection off."""
    workdir = tmp_path_factory.mktemp("workers")
    source = workdir / "app"
    shutil.copytree(FIXTURE_APP, source)
    return synthesise(
        workdir,
        source_dir=source,
        access=worker_access(),
        deletion_protection=False,
        reserved_concurrency={"handle_send": WORKER_CONCURRENCY},
        sender_domains=("mail.studio-nova.example",),
    )
