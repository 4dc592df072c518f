"""Permesso's infrastructure as code: a CDK app (``chalice.cdk``) deploying the product to AWS.

Nothing here is deployed to Lambda. Every table, queue and topic is derived
from the definitions the code and the local stack use
(``chalicelib.storage.models.ALL_MODELS``, ``chalicelib.resources``), every
function, schedule and SQS event source from the Chalice app itself.  See
``infra/README.md`` and ``docs/DEPLOY.md``.
"""
