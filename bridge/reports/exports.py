"""``export --format csv|json|html``: the reconciliation report in the format asked for.

Above the three reporting modules: :mod:`bridge.reports.report` (rows, CSV, JSON),
:mod:`bridge.reports.sla` (the SLA figures) and :mod:`bridge.reports.report_html` (the page, which
shows both), so that none of them imports another in a circle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import closing
from datetime import datetime
from typing import TextIO

from bridge.core.timefmt import utcnow
from bridge.reports import sla
from bridge.reports.report import FORMATS, Filters, rows, write_csv, write_json
from bridge.reports.report_html import write_html
from bridge.sync.storeport import StateStore


def export(
    store: StateStore,
    fmt: str,
    out: TextIO,
    *,
    sources: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    status_names: Mapping[str, Mapping[str, str]] | None = None,
    rules: sla.Rules | None = None,
    national_names: Mapping[int, str] | None = None,
) -> int:
    """``export --format csv|json|html``: write the report to ``out``; returns the row count.

    ``now`` stamps the HTML page (default: the current time); ``status_names``
    (``{source: {raw status: readable name}}``, each adapter's) names the apps' raw
    statuses on the page, ``national_names`` LAPOR's status codes: the CSV and JSON keep
    them raw. The page's city sections are
    the SLA report (:mod:`bridge.reports.sla`) of the same sources, filed in ``[since, until)``
    (each default: this year's bound, as ``report sla``), under ``rules`` (the
    configuration's agencies, calendars and promises; default: the built-in ones).
    """
    filters = Filters(tuple(sources), since, until)
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")
    # closed here, while the store is open: a reader that went away (``export | head``)
    # must not leave the generator to be finished after the database is closed
    if fmt == "csv":
        with closing(rows(store, filters)) as report_rows:
            return write_csv(report_rows, out)
    if fmt == "json":
        with closing(rows(store, filters)) as report_rows:
            return write_json(report_rows, out)
    now = now or utcnow()
    first, last = sla.this_year(now)
    scope = sla.Scope(since or first, until or last, sources=tuple(sources))
    summary = sla.compute(store, rules or sla.Rules(), scope, now)
    with closing(rows(store, filters)) as report_rows:
        return write_html(
            report_rows,
            out,
            filters=filters,
            now=now,
            sla=summary,
            status_names=status_names,
            national_names=national_names,
        )
