"""``chalice local`` for the local stack: ``python -m local.api --host H --port P``.

This runs Chalice's own CLI command, ``chalice local --no-autoreload --stage
local --host H --port P``, in this process, with one addition: the variables of
``local.stage.RUNTIME_OVERRIDES`` found in this process's environment win over
the values ``.chalice/config.json`` gives the stage (Chalice would otherwise
overwrite them just before importing ``app.py``). That lets ``local.run`` put
moto server and the API on any port — the smoke test uses free ones — while
config.json keeps documenting the defaults. When config.json names none of
those variables, the hook changes nothing. ``local.gateway.install`` then makes
Chalice's gateway route as the deployed API Gateway does (greedy ``/p/{proxy+}``,
unknown routes answered by the Gateway Response: a JSON 404).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import MutableMapping
from typing import Any

from chalice.cli import main as chalice_main
from chalice.cli.factory import CLIFactory

from local.gateway import install as install_gateway
from local.process import exit_with_parent, quiet_library_logs
from local.stage import LOCAL_STAGE, PROJECT_DIR, runtime_overrides


def _install_override_hook(overrides: dict[str, str]) -> None:
    original = CLIFactory.load_chalice_app

    def load_chalice_app(
        self: CLIFactory,
        environment_variables: MutableMapping[str, str] | None = None,
        validate_feature_flags: bool | None = True,
    ) -> Any:
        if environment_variables is not None:
            environment_variables = {**environment_variables, **overrides}
        return original(self, environment_variables, validate_feature_flags)

    CLIFactory.load_chalice_app = load_chalice_app  # type: ignore[method-assign]


def _accept_bursts() -> None:
    """Chalice's threaded dev server keeps socketserver's listen backlog of 5: a burst of
    simultaneous clients (a campaign's recipients clicking, the concurrency tests) would be
    reset by the kernel before a thread could take them. API Gateway has no such limit."""
    from chalice.local import ThreadedHTTPServer

    ThreadedHTTPServer.request_queue_size = 256


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default=LOCAL_STAGE)
    args = parser.parse_args(argv)

    _install_override_hook(runtime_overrides())
    _accept_bursts()
    install_gateway()  # greedy routes and the deployed API's Gateway Responses (local/gateway.py)
    quiet_library_logs()
    # Chalice's server has no SIGTERM handler: the default action ends the process.
    exit_with_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
    sys.argv = [
        "chalice",
        "--project-dir",
        str(PROJECT_DIR),
        "local",
        "--no-autoreload",
        "--stage",
        args.stage,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    return int(chalice_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
