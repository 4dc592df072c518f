"""The staff console under ``/app/`` (CONSOLE.md): server-rendered pages on the same services
as the API. ``framework`` is the machinery every page goes through (sessions, roles, CSRF,
security headers, errors); the other modules hold the pages and register their routes on
``framework.api`` when imported here."""

from chalicelib.api.console import (  # noqa: F401 — registers the routes
    assets,
    campaigns,
    client_card,
    clients,
    identity,
    imports,
    jobs,
    lists,
    settings,
)
from chalicelib.api.console.framework import api

__all__ = ["api"]
