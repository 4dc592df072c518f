"""Fixed-window counters in the shared ``throttle`` table (conditional ``ADD``).

One item per (subject, window): the first hit creates it, every hit adds one
while the count is below the limit, and DynamoDB's TTL deletes it after the
window. The condition makes the limit exact across any number of concurrent
Lambdas; a refused hit is not counted.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.storage.models import ThrottleModel


class ThrottleRepository:
    def hit_window(self, bucket: str, limit: int, expires_at: datetime) -> bool:
        """Count one hit in window ``bucket``; ``False`` (not counted) once ``limit`` is reached."""
        item = ThrottleModel(bucket)
        try:
            item.update(
                actions=[ThrottleModel.count.add(1), ThrottleModel.expires_at.set(expires_at)],
                condition=ThrottleModel.count.does_not_exist() | (ThrottleModel.count < limit),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
