"""The clients page (``/app/clients``): search, the filter builder, the count of matches,
selection, and the bulk actions on a selection — add or remove a tag, create a list.

The same services as the API: ``services.search`` finds and counts (one plan, bounded
reads), ``services.bulk_tags`` changes tags (in the request when small, else a job whose
progress page is ``/app/jobs/{id}``), ``services.lists`` snapshots a list. A selection is
either the ticked rows (client ids) or "every match" of the filter in the URL.

Every action is a GET confirmation page (works without JavaScript; console.js shows it in a
dialog) whose form POSTs the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalice import Response

from chalicelib.api.console.filter_builder import (
    CUSTOM,
    FIELD_CHOICES,
    OP_CHOICES,
    Builder,
    Row,
    RowError,
    check_row,
    read_builder,
)
from chalicelib.api.console.framework import Page, page
from chalicelib.errors import InvalidInput
from chalicelib.lazy import lazy_module

search = lazy_module("chalicelib.services.search")
bulk_tags = lazy_module("chalicelib.services.bulk_tags")
lists = lazy_module("chalicelib.services.lists")

PAGE_SIZE = 50
MAX_SELECTED = 200  # ticked rows of one page (and its "select all on this page")
ACTIONS = ("add_tag", "remove_tag", "create_list")
NOTICES = {
    "tag_added": "console.clients.notice.tag_added",
    "tag_removed": "console.clients.notice.tag_removed",
    "erased": "console.clients.notice.erased",
}


# --- reading the page's state ---------------------------------------------------------------


def builder_of(page: Page, *, from_form: bool = False) -> tuple[Builder, Row | None]:
    if from_form:
        return read_builder(page.field_all)
    return read_builder(page.query_all)


def field_options(page_t: Any) -> list[tuple[str, str]]:
    return [(name, page_t("console.clients.field." + name)) for name in (*FIELD_CHOICES, CUSTOM)]


def op_options(page_t: Any) -> list[tuple[str, str]]:
    return [(op, page_t("console.clients.op." + op)) for op in OP_CHOICES]


def describe(row: Row) -> dict[str, str]:
    """A row as words: its field's and operator's labels (keys), and its value."""
    name = "fields." if row.custom else row.field
    return {
        "field": "console.clients.field." + (name if name in (*FIELD_CHOICES, CUSTOM) else "unknown"),
        "custom": row.field.removeprefix(CUSTOM) if row.custom else "",
        "op": "console.clients.op." + (row.op if row.op in OP_CHOICES else "unknown"),
        "value": row.value,
    }


@dataclass
class Chosen:
    """Who a bulk action is for: ticked rows, or every match of the filter."""

    builder: Builder
    every_match: bool = False
    client_ids: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.every_match and not self.client_ids

    def target(self, language: str) -> dict[str, Any]:
        if self.every_match:
            return {"filter": self.builder.raw_filter(language)}
        return {"client_ids": self.client_ids}

    def hidden(self) -> list[tuple[str, str]]:
        """The form fields that carry this selection to the action's POST."""
        pairs = self.builder.params()
        if self.every_match:
            return [*pairs, ("select", "all")]
        return pairs + [("client_id", client_id) for client_id in self.client_ids]


def chosen_of(page: Page, values: Any, *, default_every_match: bool = False) -> Chosen:
    """The selection a form carries; ``default_every_match``: nothing ticked means the whole
    filter (a list is made "from the current filter or selection")."""
    builder, _ = read_builder(values)
    every = (values("select") or [""])[0] == "all"
    ids = [v for v in values("client_id") if v]
    if (values("page") or [""])[0] == "1":
        ids += [v for v in values("page_id") if v]
    unique = list(dict.fromkeys(ids))[:MAX_SELECTED]
    if not every and not unique and default_every_match:
        every = True
    return Chosen(builder, every, [] if every else unique)


# --- the page -------------------------------------------------------------------------------


@page("/app/clients", ["GET"])
def clients_page(page: Page) -> Response:
    builder, pending = builder_of(page)
    errors: dict[str, Any] = {}
    if pending is not None:
        try:
            check_row(pending, page.language)
        except RowError as exc:
            where = "value" if "value" in exc.key or exc.key.endswith((".bool", ".date")) else "op"
            if exc.key in ("console.clients.filter.error.field", "console.clients.filter.error.custom_name"):
                where = "field"
            errors[where] = (exc.key, _error_params(page, exc))
        else:
            builder.rows.append(pending)
            anchor = "#filter" if page.query("add") else "#results"
            return page.redirect("/app/clients?" + builder.query() + anchor)
    return _render_clients(page, builder, pending if errors else None, errors)


def _error_params(page: Page, exc: RowError) -> dict[str, str]:
    from chalicelib.mail.rendering import Translator

    t = Translator(page.language)
    params = dict(exc.params)
    if "field" in params:
        params["field"] = t(describe(Row(params["field"], ""))["field"])
    if "op" in params:
        params["op"] = t(describe(Row("", params["op"]))["op"])
    params.pop("detail", None)
    return params


def _render_clients(page: Page, builder: Builder, pending: Row | None, errors: dict[str, Any]) -> Response:
    every_match = page.query("select") == "all"
    status = 400 if errors else 200
    items: list[Any] = []
    next_cursor = None
    count = None
    try:
        raw = builder.raw_filter(page.language)
        items, next_cursor = search.search_clients(
            page.deps, page.account, raw, PAGE_SIZE, page.query("cursor")
        )
        count = search.count_matches(page.deps, page.account, raw)
    except RowError as exc:
        errors["conditions"] = (exc.key, _error_params(page, exc))
        status = 400
    except InvalidInput as exc:
        from chalicelib.services.selection import UnknownList

        if isinstance(exc, UnknownList):  # a list id that is not one of the account's lists
            errors["conditions"] = "console.clients.filter.error.list"
        elif exc.code == "invalid_cursor":
            errors["conditions"] = "console.clients.error.cursor"
        else:
            errors["conditions"] = "console.clients.filter.error.url"
        status = 400
    query = builder.query()
    return page.render(
        "console/clients.html",
        status=status,
        section="clients",
        builder=builder,
        applied=[
            {**describe(row), "remove": "/app/clients?" + builder.query(without=index) + "#filter"}
            for index, row in enumerate(builder.rows)
        ],
        pending=pending,
        pending_custom=pending.field.removeprefix(CUSTOM) if pending and pending.custom else "",
        pending_field=(CUSTOM if pending and pending.custom else (pending.field if pending else "")),
        field_options=field_options,
        op_options=op_options,
        clients=items,
        count=count,
        every_match=every_match,
        filter_pairs=builder.params(),
        query=query,
        next_url=(
            page.url("/app/clients?" + builder.query(("cursor", next_cursor)))
            if next_cursor and items
            else None
        ),
        first_url=page.url("/app/clients?" + query) if page.query("cursor") else None,
        errors=errors,
        notice=_notice(page),
    )


def _notice(page: Page) -> Any:
    done = page.query("done") or ""
    if done not in NOTICES:
        return None
    from chalicelib.api.console.formatting import Formats

    number = int(page.query("n") or 0) if (page.query("n") or "").isdigit() else 0
    return (
        NOTICES[done],
        {"tag": (page.query("tag") or "")[:64], "n": Formats(page.language).number(number)},
    )


# --- "select all" and the actions' confirmation pages -----------------------------------


@page("/app/clients/selection", ["GET"])
def selection(page: Page) -> Response:
    """Where the clients page's selection form goes: "select every match" reloads the page
    with ``select=all``; an action shows its confirmation (a dialog with JavaScript)."""
    action = page.query("action") or ""
    chosen = chosen_of(page, page.query_all, default_every_match=action == "create_list")
    if action == "select_all":
        return page.redirect("/app/clients?" + chosen.builder.query(("select", "all")) + "#results")
    if action == "clear":
        return page.redirect("/app/clients?" + chosen.builder.query() + "#results")
    if action not in ACTIONS:
        raise InvalidInput("unknown action")
    return _confirmation(page, action, chosen)


def _confirmation(
    page: Page,
    action: str,
    chosen: Chosen,
    *,
    status: int = 200,
    errors: dict[str, Any] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    count = None
    if chosen.every_match and not chosen.empty:
        try:
            count = search.count_matches(page.deps, page.account, chosen.builder.raw_filter(page.language))
        except (RowError, InvalidInput):
            raise InvalidInput("the filter in the address is not valid") from None
    back = "/app/clients?" + chosen.builder.query(*([("select", "all")] if chosen.every_match else []))
    return page.render(
        "console/clients_action.html",
        status=status,
        section="clients",
        action=action,
        chosen=chosen,
        count=count,
        back=back + "#results",
        errors=errors or {},
        values=values or {},
    )


# --- the actions ------------------------------------------------------------------------------


@page("/app/clients/tags", ["POST"])
def change_tag(page: Page) -> Response:
    from pydantic import ValidationError

    action = page.field("action")
    if action not in ("add_tag", "remove_tag"):
        raise InvalidInput("unknown action")
    chosen = chosen_of(page, page.field_all)
    tag = page.field("tag")
    if chosen.empty:
        return _confirmation(page, action, chosen, status=400)
    if not tag:
        return _confirmation(
            page, action, chosen, status=400, errors={"tag": "console.clients.error.tag_required"}
        )
    change = {"add": [tag]} if action == "add_tag" else {"remove": [tag]}
    try:
        request = bulk_tags.BulkTagsRequest.model_validate(
            {"selection": chosen.target(page.language), **change}, strict=False
        )
    except ValidationError:
        return _confirmation(
            page,
            action,
            chosen,
            status=400,
            errors={"tag": "console.clients.error.tag_invalid"},
            values={"tag": tag},
        )
    status, result = bulk_tags.bulk_tags(page.deps, page.account, request, page.actor)
    back = "/app/clients?" + chosen.builder.query()
    if status == 202:
        from urllib.parse import quote

        return page.redirect(f"/app/jobs/{result['job_id']}?back=" + quote(back, safe=""))
    done = "tag_added" if action == "add_tag" else "tag_removed"
    return page.redirect(
        "/app/clients?" + chosen.builder.query(("done", done), ("tag", tag), ("n", str(result["updated"])))
    )


@page("/app/clients/lists", ["POST"])
def create_list(page: Page) -> Response:
    from pydantic import ValidationError

    chosen = chosen_of(page, page.field_all, default_every_match=True)
    name = page.field("name")
    if chosen.empty:
        return _confirmation(page, "create_list", chosen, status=400)
    try:
        data = lists.NewList.model_validate(
            {"name": name, "selection": chosen.target(page.language)}, strict=False
        )
    except ValidationError:
        key = (
            "console.clients.error.list_name_required"
            if not name
            else "console.clients.error.list_name_invalid"
        )
        return _confirmation(
            page, "create_list", chosen, status=400, errors={"name": key}, values={"name": name}
        )
    created = lists.create_list(page.deps, page.account, data, page.actor)
    return page.redirect(f"/app/lists/{created.list_id}?done=created")
