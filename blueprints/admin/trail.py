"""Admin pages: the audit trail, filtered and paged, and its CSV and JSON downloads."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from flask import Response, abort, current_app, render_template, request
from flask_babel import gettext as _

from blueprints.admin import bp
from callchat import audit


#: Entries on one page of the audit trail.
AUDIT_PAGE = 100
#: The query-string filters of the audit page and its exports (the page also takes `before`, an entry id).
AUDIT_FILTERS = ("action", "from", "to")


def _day(name: str) -> float | None:
    """The query's `name` date (YYYY-MM-DD, a UTC day) as epoch seconds at its start; None if empty; 400 if malformed."""
    text = request.args.get(name, "")
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        abort(400, description=_("'%(name)s' must be a date written YYYY-MM-DD, not %(text)r.", name=name, text=text))


def _audit_filters() -> dict[str, Any]:
    """`audit.entries` arguments from the query: one action (or all), from one UTC day to another, both included."""
    action = request.args.get("action", "")
    if action and action not in audit.ACTIONS:
        abort(400, description=_("There is no action %(action)r in the audit trail.", action=action))
    since, until = _day("from"), _day("to")
    return {"actions": (action,) if action else (), "since": since or 0,
            "until": None if until is None else until + 86400 - 0.001}


@bp.get("/audit")
def audit_trail():
    """The audit trail, newest first, AUDIT_PAGE entries a page: filter by action and dates; download as CSV or JSON."""
    before = request.args.get("before", "")
    if before and not re.fullmatch(r"\d{1,15}-\d{1,15}", before):
        abort(400, description=_("'before' must be an entry id such as 1767225600000-0."))
    found = list(islice(audit.entries(current_app.redis, before=before or None, **_audit_filters()), AUDIT_PAGE + 1))
    shown = [dict(entry, time=datetime.fromtimestamp(entry["at"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                  details=audit.details(entry)) for entry in found[:AUDIT_PAGE]]
    query = {name: request.args[name] for name in AUDIT_FILTERS if request.args.get(name)}
    return render_template("admin/audit.html", entries=shown, query=query, actions=audit.ACTIONS, newest=not before,
                           older=shown[-1]["id"] if len(found) > AUDIT_PAGE else None)


def _download(render: Callable[[Iterable[dict[str, Any]]], Iterator[str]], extension: str, mimetype: str) -> Response:
    """Every entry the query's filters match, newest first, rendered by `render`, as a file to save."""
    found = audit.entries(current_app.redis, **_audit_filters())
    name = f"callchat-audit-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.{extension}"
    return Response(render(found), mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/audit.csv")
def audit_csv():
    """The audit trail as the page filters it, every page, as a CSV file (`callchat.audit.as_csv`)."""
    return _download(audit.as_csv, "csv", "text/csv; charset=utf-8")


@bp.get("/audit.json")
def audit_json():
    """The audit trail as the page filters it, every page, as a JSON file (`callchat.audit.as_json`)."""
    return _download(audit.as_json, "json", "application/json")
