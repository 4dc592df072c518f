"""Synthesise the Permesso stack of one stage: ``python main.py -c stage=prod`` (from infra/).

The CDK CLI runs this too (``cdk.json``): ``npx aws-cdk@2 deploy -c stage=prod``.
Any Python from 3.11 runs it: the functions' package is built for the Lambda's
own platform (python3.12, arm64) by ``infra/lambda_package.py``, whatever
interpreter runs this.  Context (``-c key=value``):

- ``stage``: a stage of ``infra/config.json`` (default ``prod``);
- ``allow_placeholders=true``: synthesise even though the config still holds
  example values or names nobody to hear the alarms (CI does; a deploy must
  not: ``make deploy-check`` then checks the account too);
- any other key overrides one setting of the stage, e.g. ``-c secrets_version=2``.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MINIMUM_PYTHON = (3, 11)


def quiet_jsii() -> None:
    """Silence jsii's banner about this machine's Node.js release (20): synthesis works the
    same; a deploying operator is better off on Node.js 22 or later (docs/DEPLOY.md)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "20")


def _argv_context(argv: list[str]) -> dict[str, str]:
    context: dict[str, str] = {}
    for flag, value in itertools.pairwise(argv):
        if flag in ("-c", "--context") and "=" in value:
            key, _, item = value.partition("=")
            context[key] = item
    return context


def main(argv: list[str]) -> int:
    if sys.version_info[:2] < MINIMUM_PYTHON:
        print(f"infra: run on Python {MINIMUM_PYTHON[0]}.{MINIMUM_PYTHON[1]} or later", file=sys.stderr)
        return 2
    quiet_jsii()
    import aws_cdk as cdk

    outdir = None if os.environ.get("CDK_OUTDIR") else str(HERE / "cdk.out")
    app = cdk.App(outdir=outdir, context=_argv_context(argv) or None)
    context = {key: app.node.try_get_context(key) for key in ("stage", "allow_placeholders")}
    stage = str(context["stage"] or "prod")
    overrides = {}
    for key in ("secrets_version", "public_base_url", "alarm_email", "account"):
        value = app.node.try_get_context(key)
        if value is not None:
            overrides[key] = value

    # chalicelib binds table and queue names to the stage when it is imported: set it first.
    os.environ["PERMESSO_STAGE"] = stage
    for name in ("PERMESSO_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL", "PERMESSO_SECRETS_PARAMETER_PATH"):
        os.environ.pop(name, None)
    # Import infra/ as the package ``infra`` from the repository root, never its modules as
    # top-level ones (``python main.py`` puts infra/ itself first on the path).
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    sys.path.insert(0, str(ROOT))
    from infra.config import InfraError, load_stage

    try:
        config = load_stage(stage, **overrides)
        os.environ.setdefault("AWS_DEFAULT_REGION", config.region)  # the Chalice packager's session
        if str(context["allow_placeholders"]).lower() != "true":
            from infra.deploy_check import check

            refused = check(config, None).failures
            if refused:
                raise InfraError(
                    f"infra/config.json, stage {stage!r} cannot be deployed:\n  - "
                    + "\n  - ".join(refused)
                    + "\n(pass -c allow_placeholders=true to only synthesise)"
                )
        from infra.stack import PermessoStack

        stack = PermessoStack(app, config)
        app.synth()
    except InfraError as exc:
        print(f"infra: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(Path.cwd() / "chalice.out", ignore_errors=True)  # the packager's scratch space
    print(stack.describe())
    template = Path(outdir or os.environ["CDK_OUTDIR"]) / f"{stack.artifact_id}.template.json"
    resources = json.loads(template.read_text())["Resources"]
    print(
        f"  template: {template.relative_to(Path.cwd()) if template.is_relative_to(Path.cwd()) else template}"
        f" ({len(resources)} resources)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
