"""Requests per new complaint, counted by the sandboxes: what a pass spends on each side.

``python -m bench.requests [--n 200]`` files ``n`` new complaints in each app (Tanjak,
Ujar, Sambat, Open311 with the default profile), with and without a photo each, and
runs the bridge as ``lapor-bridge sync`` does (one pass of the source, then of its
account; the poll floor of the default configuration, 60 s) against fresh sandboxes.
Every request each server answered is in its own log (``SandboxServer.requests``);
they are sorted into:

* **LAPOR** — the creates, the uploads, and every other request (reads of one
  complaint or its follow-ups, tag searches, the directory read once a connection);
* **the app** — the write-backs of tracking ids, the photo downloads, the reads of
  one record, and the feed (list pages, a token).

Goal per new complaint (issue 19): LAPOR **1.0** create **+ uploads**, nothing
else; the app **1.0** write-back (+ the photo downloads, which carry the photos). The
feed and the directory are read once a pass or a page, not once a complaint: they are
printed apart, and the goal is on what each complaint costs besides them. Ratio =
goal / measured (1.00 at the floor). Then a second pass with nothing new: it should
cost only the feed reads.

The counts do not depend on timing: one run is enough. Exit status 1 when a goal is
missed or a pass did not create and link every complaint.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from adapters import registry
from adapters.local import sample
from adapters.sandbox.region import Region
from adapters.sandbox.server import SandboxServer
from bridge.runtime import logs
from bridge.runtime.settings import load_settings
from bridge.sync.engine import Engine
from bridge.sync.store import Store

DEFAULT_N = 200
POLL_INTERVAL = 60  # seconds: the default configuration's poll_interval_seconds
APPS = ("tanjak", "ujar", "sambat", "kota-contoh")
#: Open311 carries photos as links to other hosts (media_url): the bridge fetches only
#: from the app's own host, so an Open311 photo is a link in the text, not an upload
PHOTOS = {"tanjak": True, "ujar": True, "sambat": True, "kota-contoh": False}

# what each request is, by server: (method, path pattern) → kind
LAPOR_KINDS = (
    ("POST", r"/complaints/complaint$", "create"),
    ("POST", r"/complaints/complaint/file$", "upload"),
    ("GET", r"/masters/", "directory"),
)
APP_KINDS = {
    "tanjak": (
        ("PATCH", r"^/api/aduan/[^/]+$", "write"),
        ("GET", r"^/media/", "photo"),
        ("GET", r"^/api/aduan$", "feed"),
        ("GET", r"^/api/aduan/[^/]+$", "read"),
    ),
    "ujar": (
        ("PUT", r"/external$", "write"),
        ("GET", r"^/files/", "photo"),
        ("GET", r"/tickets/changes$", "feed"),
        ("POST", r"^/oauth/token$", "feed"),
        ("GET", r"^/v2/tickets/[^/]+$", "read"),
    ),
    "sambat": (
        ("POST", r"/lapor$", "write"),
        ("GET", r"^/uploads/", "photo"),
        ("GET", r"^/api/sambat$", "feed"),
        ("POST", r"/login$", "feed"),
        ("GET", r"^/api/sambat/[^/]+$", "read"),
    ),
    "kota-contoh": (
        ("POST", r"/servicerequestupdates\.json$", "write"),
        ("GET", r"/(requests|servicerequestupdates|services)\.json$", "feed"),
        ("GET", r"/requests/[^/]+\.json$", "read"),
    ),
}


def kind_of(kinds: tuple[tuple[str, str, str], ...], method: str, path: str) -> str:
    for wanted, pattern, kind in kinds:
        if method == wanted and re.search(pattern, path):
            return kind
    return "other"


def tally(
    requests: list[tuple[str, str]], kinds: tuple[tuple[str, str, str], ...]
) -> dict[str, int]:
    """Requests by kind. The log keeps no query: an Open311 updates read right after the
    read of one request is that request's (its latest status), not the feed."""
    out: dict[str, int] = {}
    previous = ""
    for method, path in requests:
        kind = kind_of(kinds, method, path)
        if kind == "feed" and previous == "read" and "servicerequestupdates" in path:
            kind = "read"
        out[kind] = out.get(kind, 0) + 1
        previous = kind
    return out


# --- filing new complaints in each app ------------------------------------------------------


def file_new(region: Region, app: str, n: int, photos: bool, seed: int) -> None:
    """``n`` new complaints as citizens file them: no answer yet, one photo each if asked."""
    rng = random.Random(seed)
    start = region.open311.now() - timedelta(seconds=n + 60)
    for index in range(n):
        photo = sample.make_jpeg(rng, 160, 120) if photos else None
        topic = rng.choice(sample.TOPICS)
        if app == "tanjak":
            aduan = region.tanjak.add_aduan()
            if photo is not None:
                region.tanjak.add_photo(aduan["id"], photo)
        elif app == "ujar":
            ticket = region.ujar.add_ticket()
            if photo is not None:
                region.ujar.add_photo(ticket["ticketNo"], photo)
        elif app == "sambat":
            text = sample.complaint(rng, topic, sample.place(rng, "malang"))
            region.sambat.add_sambat(
                isi_sambat=text.text, **({"photo": photo} if photo is not None else {})
            )
        else:
            # a second apart: a city files hundreds a day, not hundreds a second
            region.open311.add_request(
                description=sample.complaint(rng, topic, sample.place(rng, "tanjungpinang")).text,
                requested_datetime=start + timedelta(seconds=index),
            )


def app_server(region: Region, app: str) -> SandboxServer:
    servers: dict[str, SandboxServer] = {
        "tanjak": region.tanjak,
        "ujar": region.ujar,
        "sambat": region.sambat,
        "kota-contoh": region.open311,
    }
    return servers[app]


# --- one measurement ---------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """One pass's requests, by kind, on each side; and what the pass reported."""

    lapor: dict[str, int]
    app: dict[str, int]
    created: int
    linked: int


def measure(app: str, n: int, photos: bool, seed: int) -> tuple[Counts, Counts]:
    """Fresh sandboxes, ``n`` new complaints, two passes as ``lapor-bridge sync``."""
    with Region(apps=(app,), seed=seed) as region, tempfile.TemporaryDirectory() as tmp:
        file_new(region, app, n, photos, seed)
        config = Path(tmp) / "config.toml"
        config.write_text(
            region.config(Path(tmp) / "bridge.db", poll_interval=POLL_INTERVAL), encoding="utf-8"
        )
        settings = load_settings(config)
        server = app_server(region, app)
        passes = []
        for _ in range(2):
            sources = registry.connect_sources(settings)
            nationals = registry.connect_nationals(settings)
            store = Store(settings.bridge.database)
            lapor_before, app_before = len(region.lapor.requests), len(server.requests)
            try:
                engine = Engine(
                    store, sources, nationals, **registry.engine_options(settings),
                    poll_floor=timedelta(seconds=settings.bridge.poll_interval_seconds),
                )  # fmt: skip
                report = engine.sync([app])
            finally:
                store.close()
                registry.close_all(sources, nationals)
            if not report.ok:
                raise RuntimeError(f"the bridge's pass failed: {report}")
            done = report.sources[app]
            with region.lapor.lock, server.lock:
                on_lapor = list(region.lapor.requests[lapor_before:])
                on_app = list(server.requests[app_before:])
            passes.append(
                Counts(
                    tally(on_lapor, LAPOR_KINDS),
                    tally(on_app, APP_KINDS[app]),
                    done.created,
                    len(store_linked(settings.bridge.database, app)),
                )
            )
        return passes[0], passes[1]


def store_linked(database: Path, source: str) -> list[str]:
    store = Store(database)
    try:
        rows = store.db.execute(
            "SELECT local_id FROM mappings WHERE source = ? AND link_state = 'done'", (source,)
        ).fetchall()
        return [str(r[0]) for r in rows]
    finally:
        store.close()


# --- the table -------------------------------------------------------------------------------

HEADER = (
    f"{'app':<12}{'photos':>7} | {'LAPOR':>6}{'create':>7}{'upload':>7}{'other':>7}"
    f"{'dir':>5}{'goal':>6}{'ratio':>6} | {'app':>6}{'write':>7}{'photo':>6}{'read':>6}"
    f"{'feed':>6}{'goal':>6}{'ratio':>6}"
)


def row(app: str, photos: bool, n: int, counts: Counts) -> tuple[str, bool]:
    """One line of the table, and whether both sides are at the floor."""
    lapor, local = counts.lapor, counts.app

    def per(value: int) -> float:
        return value / n

    create, upload = lapor.get("create", 0), lapor.get("upload", 0)
    other = sum(v for k, v in lapor.items() if k not in ("create", "upload", "directory"))
    lapor_spent = create + upload + other  # besides the directory, read once a connection
    lapor_goal = n + upload
    write, photo = local.get("write", 0), local.get("photo", 0)
    read = sum(v for k, v in local.items() if k not in ("write", "photo", "feed"))
    app_spent = write + photo + read  # besides the feed, read once a page
    app_goal = n + photo
    lapor_ratio = lapor_goal / lapor_spent if lapor_spent else 0.0
    app_ratio = app_goal / app_spent if app_spent else 0.0
    text = (
        f"{app:<12}{'yes' if photos else 'no':>7} | {per(lapor_spent):>6.2f}{per(create):>7.2f}"
        f"{per(upload):>7.2f}{per(other):>7.2f}{lapor.get('directory', 0):>5}"
        f"{per(lapor_goal):>6.2f}{lapor_ratio:>6.2f} | {per(app_spent):>6.2f}{per(write):>7.2f}"
        f"{per(photo):>6.2f}{per(read):>6.2f}{local.get('feed', 0):>6}{per(app_goal):>6.2f}"
        f"{app_ratio:>6.2f}"
    )
    return text, lapor_ratio >= 1.0 and app_ratio >= 1.0


def steady(app: str, counts: Counts) -> tuple[str, bool]:
    """The second pass, nothing new: what it read besides the feed and the directory."""
    extra_lapor = sum(v for k, v in counts.lapor.items() if k != "directory")
    extra_app = sum(v for k, v in counts.app.items() if k != "feed")
    text = (
        f"{app:<12} LAPOR {sum(counts.lapor.values())} ({counts.lapor.get('directory', 0)}"
        f" directory, {extra_lapor} other), app {sum(counts.app.values())}"
        f" ({counts.app.get('feed', 0)} feed, {extra_app} other)"
    )
    return text, extra_lapor == 0 and extra_app == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.requests", description=__doc__)
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="new complaints per app")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--app", action="append", choices=APPS, help="only these (repeatable)")
    args = parser.parse_args(argv)
    logs.configure("warning", "json", io.StringIO())
    apps: list[str] = args.app or list(APPS)
    n: int = args.n
    print(f"requests per new complaint, {n} new complaints per app and run, counted by the"
          f" sandboxes (per complaint; dir and feed: per pass)")  # fmt: skip
    print(HEADER)
    ok = True
    steadies: list[str] = []
    run: Callable[[str, bool], tuple[Counts, Counts]]
    run = lambda app, photos: measure(app, n, photos, args.seed)  # noqa: E731
    for app in apps:
        for photos in (False, True) if PHOTOS[app] else (False,):
            first, second = run(app, photos)
            text, at_floor = row(app, photos, n, first)
            complete = first.created == n and first.linked == n
            print(text + ("" if complete else "  (not every complaint created and linked)"))
            ok = ok and at_floor and complete
            if not photos:
                line, quiet = steady(app, second)
                steadies.append(line)
                ok = ok and quiet
    print("\nsecond pass, nothing new (goal: only the feed and the directory):")
    for line in steadies:
        print(f"  {line}")
    print(f"goal: LAPOR 1.0 + uploads, app 1.0 write-back (+ photo downloads): "
          f"{'met' if ok else 'missed'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
