"""Process plumbing shared by the local stack's child processes."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

# Set by local.run in its children's environment: the pid they must not outlive.
PARENT_PID_ENV = "PERMESSO_LOCAL_PARENT_PID"


def exit_with_parent(on_orphaned: Callable[[], None], poll_seconds: float = 1.0) -> None:
    """Call ``on_orphaned`` once the launching ``local.run`` process is gone.

    ``local.run`` stops its children itself on Ctrl-C or SIGTERM; this covers the
    case it cannot handle (it was SIGKILLed), so no API or worker process is left
    holding a port. Does nothing when the process was not started by ``local.run``.
    """
    text = os.environ.get(PARENT_PID_ENV)
    if not text:
        return
    parent = int(text)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        on_orphaned()

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def quiet_library_logs() -> None:
    """Keep the terminal for the app's own lines: no per-call INFO from the AWS SDK and PynamoDB."""
    for name in ("botocore", "boto3", "pynamodb", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
