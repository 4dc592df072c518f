"""Logger and metrics, created once and shared by every module.

The Powertools service name is deliberately not the Chalice app name
(``permesso``): Chalice configures a logger under its app name, and a
Powertools logger of the same name would print every line twice.

Only ids (account, client, campaign, job) and codes go into log lines —
never e-mail addresses, names, IPs or keys.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics

SERVICE = "permesso-api"
NAMESPACE = "Permesso"

# The AWS libraries log whole requests and items (addresses, names, IPs) at DEBUG: keep
# them at WARNING whatever level the app's own logger runs at.
for _library in ("pynamodb", "botocore", "boto3", "urllib3"):
    logging.getLogger(_library).setLevel(logging.WARNING)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def flush_metrics() -> None:
    """Publish buffered metrics (EMF lines) if any were recorded in this invocation."""
    if metrics.metric_set:
        metrics.flush_metrics()
