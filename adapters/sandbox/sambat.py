"""Sandbox of Sambat Kene Ker, Kota Malang's complaint back end.

It implements ``shared/contract/sambat.md`` on loopback, quirks included:

* HTTP Basic on every path; a wrong login gets ``401`` with an HTML page;
* JSON out, form-encoded writes (a body that is not a form reads as empty,
  as PHP's ``$_POST`` does);
* numbers as strings, absent values as ``""``;
* times ``dd/mm/yyyy HH:MM`` in WIB without an offset, stored to the minute,
  so many records share one ``tgl_update``;
* failures inside ``200`` (``{"status": "error", "pesan": ...}``), and
  ``200`` answers whose body is an HTML error page (fault kind ``html200``);
* it never answers ``429``: an injected ``429`` fault is served as slowness
  (sleep ``retry_after`` seconds, default 1, then answer normally), and
  :meth:`SambatSandbox.set_latency` slows every request down;
* an injected ``422`` (the app's validation error) is an error inside ``200``,
  as is :meth:`SambatSandbox.error_in_200` (which fires after the login
  check and can say what it likes).

Decisions where the contract is silent:

* ``GET /api/sambat``: ``sejak`` may be omitted (every record); ``start``
  defaults to 0 and ``limit`` to 20; a ``limit`` above 100 is cut to 100
  without a word, as the back end does; non-numeric paging is an error
  inside ``200``;
* every write that changes a record moves its ``tgl_update`` to now (the
  minute), the bridge's own writes included;
* ``tanggapan`` are listed oldest first by ``tgl``; a ``tgl`` left empty
  on a write means now;
* unknown paths answer ``404`` with the framework's HTML page; a wrong
  method ``405`` with an HTML page.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

from adapters.local import sample
from adapters.sandbox.server import Request, Response, SandboxServer

__all__ = ["KATEGORI", "STATUSES", "SUMBER", "WIB", "SambatSandbox", "format_time"]

WIB = timezone(timedelta(hours=7), "WIB")
TIME_FORMAT = "%d/%m/%Y %H:%M"
_TIME_PATTERN = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}")

KATEGORI = (
    "Penerangan Jalan",
    "Jalan Rusak",
    "Pohon Tumbang",
    "Sampah",
    "Banjir",
    "Administrasi Kependudukan",
    "Kesehatan",
    "Pendidikan",
    "Lain-lain",
)
STATUSES = ("Menunggu", "Diverifikasi", "Diproses", "Selesai", "Ditolak")
SUMBER = ("sms", "web", "android", "lapor")

MAX_LIMIT = 100
DEFAULT_LIMIT = 20

#: the OPD each category goes to, with the short name it signs responses with
SKPD: dict[str, tuple[str, str]] = {
    "Penerangan Jalan": ("Dinas Perumahan dan Kawasan Permukiman", "DPKPP"),
    "Jalan Rusak": ("Dinas Pekerjaan Umum dan Penataan Ruang", "DPUPR"),
    "Pohon Tumbang": ("Dinas Lingkungan Hidup", "DLH"),
    "Sampah": ("Dinas Lingkungan Hidup", "DLH"),
    "Banjir": ("Dinas Pekerjaan Umum dan Penataan Ruang", "DPUPR"),
    "Administrasi Kependudukan": ("Dinas Kependudukan dan Pencatatan Sipil", "Dispendukcapil"),
    "Kesehatan": ("Dinas Kesehatan", "Dinkes"),
    "Pendidikan": ("Dinas Pendidikan dan Kebudayaan", "Disdikbud"),
    "Lain-lain": ("Dinas Komunikasi dan Informatika", "Diskominfo"),
}

_HTML_401 = (
    b"<!DOCTYPE html><html><head><title>401 Unauthorized</title></head>"
    b"<body><h1>Akses ditolak</h1><p>Username atau password salah.</p></body></html>"
)
_HTML_404 = (
    b"<!DOCTYPE html><html><head><title>404 Page Not Found</title></head>"
    b'<body><div id="container"><h1>404 Page Not Found</h1>'
    b"<p>The page you requested was not found.</p></div></body></html>"
)
_HTML_405 = (
    b"<!DOCTYPE html><html><head><title>405 Method Not Allowed</title></head>"
    b"<body><h1>Method Not Allowed</h1></body></html>"
)

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def format_time(moment: datetime) -> str:
    """``moment`` as the back end writes it: ``dd/mm/yyyy HH:MM`` in WIB."""
    return moment.astimezone(WIB).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime | None:
    """The back end's ``dd/mm/yyyy HH:MM`` (WIB) as an aware datetime, or None."""
    if _TIME_PATTERN.fullmatch(text) is None:
        return None
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=WIB)
    except ValueError:
        return None


def _to_minute(moment: datetime) -> datetime:
    return moment.astimezone(WIB).replace(second=0, microsecond=0)


def _ok(**payload: Any) -> Response:
    return Response.json(200, {"status": "ok", **payload})


def _error(pesan: str) -> Response:
    """The back end's favourite failure: an error inside a ``200``."""
    return Response.json(200, {"status": "error", "pesan": pesan})


@dataclass
class _Tanggapan:
    id_tanggapan: str
    dari: str
    isi: str
    tgl: datetime
    ref: str

    def render(self) -> dict[str, str]:
        return {
            "id_tanggapan": self.id_tanggapan,
            "dari": self.dari,
            "isi": self.isi,
            "tgl": format_time(self.tgl),
            "ref": self.ref,
        }


@dataclass
class _Sambat:
    no_tiket: str
    sumber: str
    isi_sambat: str
    kategori: str
    tgl_masuk: datetime
    tgl_update: datetime
    nama: str = ""
    hp: str = ""
    kelurahan: str = ""
    kecamatan: str = ""
    lat: str = ""
    lng: str = ""
    foto: str = ""  # the photo's file name under /uploads/sambat/, "" when none
    status: str = "Menunggu"
    skpd_tujuan: str = ""
    id_lapor: str = ""
    tanggapan: list[_Tanggapan] = field(default_factory=list)


@dataclass
class _ErrorIn200:
    method: str | None
    path: re.Pattern[str] | None
    remaining: int
    pesan: str


# fields a caller may set directly (control API and the POST form)
_TEXT_FIELDS = (
    "sumber",
    "nama",
    "hp",
    "isi_sambat",
    "kategori",
    "kelurahan",
    "kecamatan",
    "lat",
    "lng",
    "status",
    "skpd_tujuan",
    "id_lapor",
)


class SambatSandbox(SandboxServer):
    """Sambat Kene Ker's back end on loopback, with a control API for tests.

    ``base_url`` (``url + "/api"``) is what an adapter is configured with.
    ``now`` is a callable giving the current aware datetime; replace it to
    control time.
    """

    #: an injected 500/503 answers in the back end's own shape
    error_body: ClassVar[Any] = {"status": "error", "pesan": "Terjadi kesalahan pada server"}
    #: an injected 422 becomes the back end's validation failure: an error inside a 200
    validation_body: ClassVar[Any] = {"status": "error", "pesan": "data tidak valid"}

    def __init__(
        self,
        username: str = "sambat",
        password: str = "rahasia",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(host, port, seed=seed)
        self.username = username
        self.password = password
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self._records: dict[str, _Sambat] = {}
        self._photos: dict[str, tuple[bytes, str]] = {}
        self._errors_in_200: list[_ErrorIn200] = []
        self._next_ticket = 1
        self._next_tanggapan = 5501
        self._latency = 0.0
        self._local = threading.local()

        api = "/api/sambat"
        ticket = r"(?P<no_tiket>[^/]+)"
        self.router.add("GET", api, self._list)
        self.router.add("POST", api, self._create)
        self.router.add("GET", f"{api}/{ticket}", self._get)
        self.router.add("POST", f"{api}/{ticket}/lapor", self._set_lapor)
        self.router.add("POST", f"{api}/{ticket}/status", self._set_status)
        self.router.add("POST", f"{api}/{ticket}/tanggapan", self._add_tanggapan)
        self.router.add("GET", r"/uploads/sambat/(?P<name>[^/]+)", self._photo)

    @property
    def base_url(self) -> str:
        """The API base an adapter is configured with."""
        return f"{self.url}/api"

    # hooks -------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        with self.lock:
            delay = self._latency
        if delay > 0:
            time.sleep(delay)
        self._local.request = request  # for fault_response's "429 as slowness"
        return super().handle(request)

    def authorize(self, request: Request) -> Response | None:
        if not self._login_ok(request.header("authorization")):
            return Response(
                401,
                _HTML_401,
                "text/html; charset=UTF-8",
                {"WWW-Authenticate": 'Basic realm="Sambat Kene Ker"'},
            )
        # the last hook before a request is processed: queued errors-in-200 fire here
        pesan = self._take_error_in_200(request)
        return _error(pesan) if pesan is not None else None

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        if response.status == 405:
            return Response(405, _HTML_405, "text/html; charset=UTF-8")
        return response

    def not_found(self, request: Request) -> Response:
        return Response(404, _HTML_404, "text/html; charset=UTF-8")

    def fault_response(self, kind: str, params: dict[str, float]) -> Response:
        if kind == "429":
            # the back end never says 429: under load it just gets slow
            time.sleep(params.get("retry_after", 1.0))
            request: Request = self._local.request
            return self.dispatch(request)
        if kind == "422":
            return Response.json(200, self.validation_body)
        return super().fault_response(kind, params)

    def _login_ok(self, header: str | None) -> bool:
        if header is None or not header.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        username, _, password = decoded.partition(":")
        return hmac.compare_digest(username, self.username) and hmac.compare_digest(
            password, self.password
        )

    def _take_error_in_200(self, request: Request) -> str | None:
        with self.lock:
            for queued in self._errors_in_200:
                if queued.method is not None and queued.method != request.method:
                    continue
                if queued.path is not None and queued.path.search(request.path) is None:
                    continue
                queued.remaining -= 1
                if queued.remaining <= 0:
                    self._errors_in_200.remove(queued)
                return queued.pesan
        return None

    # HTTP handlers -----------------------------------------------------------
    def _list(self, request: Request) -> Response:
        sejak_text = request.arg("sejak", "") or ""
        sejak = parse_time(sejak_text) if sejak_text else None
        if sejak_text and sejak is None:
            return _error("format sejak salah, gunakan dd/mm/yyyy HH:MM")
        try:
            start = int(request.arg("start", "") or 0)
            limit = int(request.arg("limit", "") or DEFAULT_LIMIT)
        except ValueError:
            return _error("parameter start/limit tidak valid")
        if start < 0 or limit < 1:
            return _error("parameter start/limit tidak valid")
        limit = min(limit, MAX_LIMIT)
        with self.lock:
            rows = [r for r in self._ordered() if sejak is None or r.tgl_update >= sejak]
            page = [self._render(r) for r in rows[start : start + limit]]
        return _ok(total=str(len(rows)), data=page)

    def _get(self, request: Request) -> Response:
        with self.lock:
            record = self._records.get(request.params["no_tiket"])
            if record is None:
                return _error("tiket tidak ditemukan")
            return _ok(data=self._render(record))

    def _create(self, request: Request) -> Response:
        form = self._form(request)
        isi = form.get("isi_sambat", "").strip()
        kategori = form.get("kategori", "")
        sumber = form.get("sumber", "") or "lapor"
        if not isi:
            return _error("isi sambat wajib diisi")
        if kategori not in KATEGORI:
            return _error(f"kategori '{kategori}' tidak dikenal")
        if sumber not in SUMBER:
            return _error(f"sumber '{sumber}' tidak dikenal")
        for name in ("lat", "lng"):
            if not _is_decimal_or_empty(form.get(name, "")):
                return _error(f"{name} tidak valid")
        fields = {name: form[name] for name in _TEXT_FIELDS if name in form}
        fields.update(isi_sambat=isi, kategori=kategori, sumber=sumber, status="Menunggu")
        with self.lock:
            record = self._new_record(fields, self.now())
        return _ok(no_tiket=record.no_tiket)

    def _set_lapor(self, request: Request) -> Response:
        id_lapor = self._form(request).get("id_lapor", "")
        with self.lock:
            record = self._records.get(request.params["no_tiket"])
            if record is None:
                return _error("tiket tidak ditemukan")
            if record.id_lapor != id_lapor:
                record.id_lapor = id_lapor
                self._touch(record)
        return _ok()

    def _set_status(self, request: Request) -> Response:
        status = self._form(request).get("status", "")
        if status not in STATUSES:
            return _error(f"status '{status}' tidak valid")
        with self.lock:
            record = self._records.get(request.params["no_tiket"])
            if record is None:
                return _error("tiket tidak ditemukan")
            if record.status != status:
                record.status = status
                self._touch(record)
        return _ok()

    def _add_tanggapan(self, request: Request) -> Response:
        form = self._form(request)
        isi = form.get("isi", "").strip()
        if not isi:
            return _error("isi tanggapan wajib diisi")
        tgl_text = form.get("tgl", "")
        tgl = parse_time(tgl_text) if tgl_text else _to_minute(self.now())
        if tgl is None:
            return _error("format tgl salah, gunakan dd/mm/yyyy HH:MM")
        with self.lock:
            record = self._records.get(request.params["no_tiket"])
            if record is None:
                return _error("tiket tidak ditemukan")
            dari, ref = form.get("dari", ""), form.get("ref", "")
            tanggapan = self._new_tanggapan(record, dari, isi, tgl, ref)
            self._touch(record)
        return _ok(id_tanggapan=tanggapan.id_tanggapan)

    def _photo(self, request: Request) -> Response:
        with self.lock:
            photo = self._photos.get(request.params["name"])
        if photo is None:
            return self.not_found(request)
        data, content_type = photo
        return Response(200, data, content_type)

    # internals ---------------------------------------------------------------
    @staticmethod
    def _form(request: Request) -> dict[str, str]:
        content_type = request.header("content-type") or ""
        if not content_type.startswith(_FORM_TYPES):
            return {}  # like PHP's $_POST: a JSON body is simply not seen
        return request.form()

    def _ordered(self) -> list[_Sambat]:
        return sorted(self._records.values(), key=lambda r: (r.tgl_update, r.no_tiket))

    def _render(self, record: _Sambat) -> dict[str, Any]:
        return {
            "no_tiket": record.no_tiket,
            "sumber": record.sumber,
            "nama": record.nama,
            "hp": record.hp,
            "isi_sambat": record.isi_sambat,
            "kategori": record.kategori,
            "kelurahan": record.kelurahan,
            "kecamatan": record.kecamatan,
            "lat": record.lat,
            "lng": record.lng,
            "foto": f"{self.url}/uploads/sambat/{record.foto}" if record.foto else "",
            "status": record.status,
            "skpd_tujuan": record.skpd_tujuan,
            "id_lapor": record.id_lapor,
            "tanggapan": [
                t.render()
                for t in sorted(record.tanggapan, key=lambda t: (t.tgl, int(t.id_tanggapan)))
            ],
            "tgl_masuk": format_time(record.tgl_masuk),
            "tgl_update": format_time(record.tgl_update),
        }

    def _touch(self, record: _Sambat) -> None:
        record.tgl_update = _to_minute(self.now())

    def _new_record(self, fields: dict[str, str], masuk: datetime) -> _Sambat:
        masuk = _to_minute(masuk)
        no_tiket = fields.pop("no_tiket", "")
        if not no_tiket:
            no_tiket = f"SMB-{masuk.year}-{self._next_ticket:06d}"
            self._next_ticket += 1
        if no_tiket in self._records:
            raise ValueError(f"no_tiket {no_tiket} already exists")
        if fields.get("sumber") == "sms":
            # the SMS gateway knows only the sender's number
            fields.update(nama="", lat="", lng="")
        record = _Sambat(
            no_tiket=no_tiket,
            sumber=fields.pop("sumber", "web"),
            isi_sambat=fields.pop("isi_sambat", ""),
            kategori=fields.pop("kategori", "Lain-lain"),
            tgl_masuk=masuk,
            tgl_update=masuk,
        )
        for name, value in fields.items():
            setattr(record, name, value)
        self._records[no_tiket] = record
        return record

    def _new_tanggapan(
        self, record: _Sambat, dari: str, isi: str, tgl: datetime, ref: str
    ) -> _Tanggapan:
        tanggapan = _Tanggapan(str(self._next_tanggapan), dari, isi, _to_minute(tgl), ref)
        self._next_tanggapan += 1
        record.tanggapan.append(tanggapan)
        return tanggapan

    def _store_photo(self, record: _Sambat, data: bytes, content_type: str) -> None:
        extension = {"image/png": "png", "image/gif": "gif"}.get(content_type, "jpg")
        name = f"{record.no_tiket.lower()}-{len(self._photos) + 1}.{extension}"
        self._photos[name] = (data, content_type)
        record.foto = name

    def _require(self, no_tiket: str) -> _Sambat:
        record = self._records.get(no_tiket)
        if record is None:
            raise KeyError(f"no sambat {no_tiket}")
        return record

    # control API -------------------------------------------------------------
    def add_sambat(self, **fields: Any) -> dict[str, Any]:
        """Create a record as a citizen would, and return it as the API shows it.

        Accepts the record's text fields (``sumber`` defaults to ``web``,
        ``kategori`` to ``Lain-lain``, ``skpd_tujuan`` to the category's OPD),
        ``no_tiket`` (else the next number), ``tgl_masuk``/``tgl_update``
        (datetimes; default now), and ``photo`` (JPEG bytes). An ``sms``
        record gets no name, photo or location whatever is passed.
        """
        now = self.now()
        masuk = fields.pop("tgl_masuk", None) or now
        update = fields.pop("tgl_update", None)
        photo = fields.pop("photo", None)
        unknown = set(fields) - {*_TEXT_FIELDS, "no_tiket"}
        if unknown:
            raise TypeError(f"unknown sambat fields: {sorted(unknown)}")
        text = {name: str(value) for name, value in fields.items()}
        text.setdefault("sumber", "web")
        text.setdefault("kategori", "Lain-lain")
        text.setdefault("isi_sambat", "")
        text.setdefault("skpd_tujuan", SKPD.get(text["kategori"], ("", ""))[0])
        _check_choices(text)
        with self.lock:
            record = self._new_record(text, masuk)
            if update is not None:
                record.tgl_update = _to_minute(update)
            if photo is not None and record.sumber != "sms":
                self._store_photo(record, bytes(photo), "image/jpeg")
            return self._render(record)

    def edit_sambat(self, no_tiket: str, **changes: Any) -> dict[str, Any]:
        """Change a record's text fields as the city's back office would.

        ``tgl_update`` moves to now unless given (a datetime) in ``changes``.
        """
        update = changes.pop("tgl_update", None)
        unknown = set(changes) - set(_TEXT_FIELDS)
        if unknown:
            raise TypeError(f"unknown sambat fields: {sorted(unknown)}")
        text = {name: str(value) for name, value in changes.items()}
        _check_choices(text)
        with self.lock:
            record = self._require(no_tiket)
            for name, value in text.items():
                setattr(record, name, value)
            record.tgl_update = _to_minute(update) if update is not None else _to_minute(self.now())
            return self._render(record)

    def respond(
        self, no_tiket: str, dari: str, isi: str, *, tgl: datetime | None = None, ref: str = ""
    ) -> dict[str, str]:
        """An OPD writes a response (``tanggapan``); returns it as the API shows it."""
        with self.lock:
            record = self._require(no_tiket)
            tanggapan = self._new_tanggapan(record, dari, isi, tgl or self.now(), ref)
            self._touch(record)
            return tanggapan.render()

    def set_status(self, no_tiket: str, status: str) -> None:
        """The back office moves a record to ``status`` (any value of the list)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self.lock:
            record = self._require(no_tiket)
            record.status = status
            self._touch(record)

    def add_photo(self, no_tiket: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Attach a photo to a record (replacing any); returns its absolute URL."""
        with self.lock:
            record = self._require(no_tiket)
            self._store_photo(record, data, content_type)
            self._touch(record)
            return f"{self.url}/uploads/sambat/{record.foto}"

    def sambat(self, no_tiket: str) -> dict[str, Any]:
        """One record as the API shows it; ``KeyError`` when unknown."""
        with self.lock:
            return self._render(self._require(no_tiket))

    def all_sambat(self) -> list[dict[str, Any]]:
        """Every record as the API shows it, in feed order (tgl_update, no_tiket)."""
        with self.lock:
            return [self._render(r) for r in self._ordered()]

    def error_in_200(
        self,
        count: int = 1,
        path_regex: str | None = None,
        *,
        method: str | None = None,
        pesan: str = "koneksi database gagal, silakan coba beberapa saat lagi",
    ) -> None:
        """Answer the next ``count`` matching requests with an error inside a 200.

        Fires after the login check and before anything is processed.
        """
        compiled = re.compile(path_regex) if path_regex is not None else None
        with self.lock:
            self._errors_in_200.append(
                _ErrorIn200(method.upper() if method else None, compiled, count, pesan)
            )

    def set_latency(self, seconds: float) -> None:
        """Make every request take ``seconds`` longer (0 turns it off)."""
        with self.lock:
            self._latency = max(0.0, seconds)

    def seed_sample(self, rng: random.Random, n: int, photos: bool = True) -> list[str]:
        """Add ``n`` realistic Malang records from the last 30 days; returns their numbers.

        About 40 % come by SMS (informal, abbreviated text; several share the
        minute the SMS gateway imported them), the rest from the web form and
        the Android app, some with photos and coordinates. Statuses are spread
        over the list, with OPD responses on those past ``Menunggu``.
        """
        now = _to_minute(self.now())
        drafts = _sample_drafts(rng, n, now)
        numbers: list[str] = []
        with self.lock:
            for draft in drafts:
                record = self._new_record(draft.fields, draft.masuk)
                for dari, isi, tgl in draft.tanggapan:
                    self._new_tanggapan(record, dari, isi, tgl, "")
                record.tgl_update = _to_minute(draft.update)
                if photos and draft.photo_size is not None:
                    width, height = draft.photo_size
                    self._store_photo(record, sample.make_jpeg(rng, width, height), "image/jpeg")
                numbers.append(record.no_tiket)
        return numbers


def _check_choices(fields: dict[str, str]) -> None:
    if "kategori" in fields and fields["kategori"] not in KATEGORI:
        raise ValueError(f"unknown kategori {fields['kategori']!r}")
    if "status" in fields and fields["status"] not in STATUSES:
        raise ValueError(f"unknown status {fields['status']!r}")
    if "sumber" in fields and fields["sumber"] not in SUMBER:
        raise ValueError(f"unknown sumber {fields['sumber']!r}")


def _is_decimal_or_empty(text: str) -> bool:
    return text == "" or re.fullmatch(r"-?\d+(\.\d+)?", text) is not None


# sample data ------------------------------------------------------------------
#: the shared sample topics as Sambat's categories
_TOPIC_KATEGORI = {
    "banjir": "Banjir",
    "sampah": "Sampah",
    "lampu": "Penerangan Jalan",
    "jalan": "Jalan Rusak",
    "pohon": "Pohon Tumbang",
    "parkir": "Lain-lain",
    "kabel": "Lain-lain",
    "sosial": "Lain-lain",
    "kesehatan": "Kesehatan",
    "pendidikan": "Pendidikan",
    "kependudukan": "Administrasi Kependudukan",
    "perizinan": "Lain-lain",
}
_ON_THE_WAY = (
    "Laporan sudah diverifikasi dan diteruskan ke petugas lapangan.",
    "Petugas sudah melakukan pengecekan di lokasi.",
)
_REJECTION = "Laporan tidak dapat diproses karena lokasi bukan kewenangan Pemerintah Kota Malang."


@dataclass
class _Draft:
    fields: dict[str, str]
    masuk: datetime
    update: datetime
    tanggapan: list[tuple[str, str, datetime]]
    photo_size: tuple[int, int] | None


def _sample_drafts(rng: random.Random, n: int, now: datetime) -> list[_Draft]:
    drafts: list[_Draft] = []
    last_sms: datetime | None = None
    for _ in range(n):
        sumber = rng.choices(("sms", "web", "android"), weights=(40, 25, 35))[0]
        masuk = now - timedelta(minutes=rng.randint(60, 30 * 24 * 60))
        if sumber == "sms" and last_sms is not None and rng.random() < 0.5:
            masuk = last_sms  # the SMS gateway imports in batches: one minute, many records
        if sumber == "sms":
            last_sms = masuk
        drafts.append(_sample_draft(rng, sumber, masuk, now))
    drafts.sort(key=lambda d: d.masuk)  # ticket numbers follow arrival
    return drafts


def _sample_draft(rng: random.Random, sumber: str, masuk: datetime, now: datetime) -> _Draft:
    topic = rng.choice(sample.TOPICS)
    kategori = _TOPIC_KATEGORI[topic]
    where = sample.place(rng, "malang")
    citizen = sample.person(rng, "malang")
    text = sample.complaint(rng, topic, where, informal=sumber == "sms" or rng.random() < 0.15)
    skpd, singkatan = SKPD[kategori]
    sms = sumber == "sms"
    placed = not sms or rng.random() < 0.4  # an SMS has a place only when the operator typed it
    fields = {
        "sumber": sumber,
        "nama": "" if sms else citizen.name,
        "hp": _sambat_hp(citizen.phone, sms) if sms or rng.random() < 0.8 else "",
        "isi_sambat": text.text,
        "kategori": kategori,
        "kelurahan": where.kelurahan if placed else "",
        "kecamatan": where.kecamatan if placed else "",
        "skpd_tujuan": skpd,
    }
    photo_size: tuple[int, int] | None = None
    if sumber == "android" or (sumber == "web" and rng.random() < 0.3):
        fields["lat"] = f"{where.lat:.6f}"
        fields["lng"] = f"{where.lng:.6f}"
        if rng.random() < 0.7:
            photo_size = rng.choice(((160, 120), (120, 160), (200, 150)))
    status = rng.choices(STATUSES, weights=(30, 15, 25, 25, 5))[0]
    fields["status"] = status
    tanggapan: list[tuple[str, str, datetime]] = []
    update = masuk
    steps = 1 if status == "Ditolak" else STATUSES.index(status)
    for step in range(steps):
        update = min(now, update + timedelta(minutes=rng.randint(30, 3 * 24 * 60)))
        if status == "Ditolak":
            isi = _REJECTION
        elif step == steps - 1:
            isi = sample.response_text(rng, topic)
        else:
            isi = _ON_THE_WAY[step]
        tanggapan.append((singkatan, isi, update))
    return _Draft(fields, masuk, update, tanggapan, photo_size)


def _sambat_hp(typed: str, sms: bool) -> str:
    """Digits only; the SMS gateway writes 62…, the forms keep what was typed (08… or 62…)."""
    digits = "".join(c for c in typed if c.isdigit())
    return "62" + digits[1:] if sms and digits.startswith("0") else digits
