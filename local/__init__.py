"""The one-command local stack (``make run``): dev tooling only, never deployed.

- ``local.run``: starts moto server, bootstraps the AWS resources, runs
  ``chalice local`` and the worker, creates a demo account.
- ``local.bootstrap``: creates tables, queues, topics and SES resources (idempotent).
- ``local.worker``: plays Lambda's SQS event source mappings and EventBridge schedules.
- ``local.api``: ``chalice local`` with the run-time overrides of ``local.stage``.
"""
