"""A sandbox of Tanjak (Tanjungpinang Aktual), after ``contract/tanjak.md``.

A real HTTP server on loopback with the app's quirks: times to the second
only (many records share a ``diperbarui_pada``), pages computed at the time
of each request (a record updated while a client pages moves to the end), no
idempotency on writes, ``pelapor`` null for anonymous citizens, phone
numbers as typed. Tests act as the citizens and the city agencies (OPD)
through the control methods (``add_aduan``, ``respond``, ``set_status``...)
and as the bridge through HTTP.

Decisions where the contract is silent:

* ``diperbarui_sejak`` is required and must be RFC 3339 with ``Z`` or an
  offset (a ``+`` sent unencoded arrives as a space and is refused);
  ``halaman`` below 1, ``per_halaman`` outside 1..100 or not a number: ``422``;
* ``POST /aduan`` also takes an optional ``status`` (default ``baru``);
  ``isi`` and ``kategori`` are required; a wrongly typed field is ``422``, a
  body that is not JSON ``400``; ``pelapor`` is stored as null when
  ``anonim`` is true; ``pelapor`` keys are ``nama``, ``hp``, ``nik``, each
  a string or null;
* ``PATCH`` without ``lapor_id`` or ``status`` is ``422``; ``lapor_id`` is a
  string or null;
* a ``tanggapan`` without ``waktu`` is dated now; ``waktu`` is shown in WIB;
* ``diperbarui_pada`` moves only when a write actually changes something
  (setting the same value again is not a change);
* photos are numbered from 1; their URL always ends in ``.jpg`` but the
  Content-Type is the photo's own (``image/png`` for a PNG).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

from adapters.local import sample
from adapters.sandbox.server import Request, Response, SandboxServer, page_slice

__all__ = [
    "KATEGORI",
    "MAX_PHOTOS",
    "MAX_PHOTO_BYTES",
    "STATUS",
    "WIB",
    "TanjakSandbox",
    "format_time",
    "parse_time",
]

WIB = timezone(timedelta(hours=7), "WIB")

KATEGORI = (
    "persampahan",
    "jalan",
    "drainase",
    "penerangan",
    "pendidikan",
    "kesehatan",
    "kependudukan",
    "perizinan",
    "sosial",
    "lainnya",
)
STATUS = ("baru", "diverifikasi", "diproses", "selesai", "ditolak")
MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 10 * 1024 * 1024
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

_KATEGORI_BY_TOPIC = {
    "banjir": "drainase",
    "sampah": "persampahan",
    "lampu": "penerangan",
    "jalan": "jalan",
    "pohon": "lainnya",
    "parkir": "lainnya",
    "kabel": "lainnya",
    "sosial": "sosial",
    "kesehatan": "kesehatan",
    "pendidikan": "pendidikan",
    "kependudukan": "kependudukan",
    "perizinan": "perizinan",
}

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

#: fields a citizen (or the bridge, on create) can set
_FIELDS = ("judul", "isi", "kategori", "lokasi", "pelapor", "anonim", "rahasia", "opd", "lapor_id")


def format_time(moment: datetime) -> str:
    """``moment`` as Tanjak writes it: RFC 3339, to the second, in WIB."""
    return moment.astimezone(WIB).replace(microsecond=0).isoformat()


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 time (``Z`` or an offset), or None when it is not one."""
    if _RFC3339.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError:
        return None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Rejected(ValueError):
    """A request (or a control call) that the app refuses."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Photo:
    data: bytes
    content_type: str


@dataclass
class _Tanggapan:
    id: int
    oleh: str
    isi: str
    waktu: datetime
    ref: str | None

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "oleh": self.oleh,
            "isi": self.isi,
            "waktu": format_time(self.waktu),
            "ref": self.ref,
        }


@dataclass
class _Aduan:
    id: int
    judul: str
    isi: str
    kategori: str
    lokasi: dict[str, Any] | None
    pelapor: dict[str, str | None] | None
    anonim: bool
    rahasia: bool
    status: str
    opd: str | None
    lapor_id: str | None
    dibuat_pada: datetime
    diperbarui_pada: datetime
    tanggapan: list[_Tanggapan] = field(default_factory=list)
    photos: list[_Photo] = field(default_factory=list)
    #: wire fields forced to a value outside the contract (see ``corrupt``)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def nomor(self) -> str:
        return f"TJK-{self.dibuat_pada.astimezone(WIB).year}-{self.id:06d}"

    def wire(self, base_url: str) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "nomor": self.nomor,
            "judul": self.judul,
            "isi": self.isi,
            "kategori": self.kategori,
            "lokasi": dict(self.lokasi) if self.lokasi is not None else None,
            "foto": [f"{base_url}/media/{self.id}/{n}.jpg" for n in range(1, len(self.photos) + 1)],
            "pelapor": dict(self.pelapor) if self.pelapor is not None and not self.anonim else None,
            "anonim": self.anonim,
            "rahasia": self.rahasia,
            "status": self.status,
            "opd": self.opd,
            "lapor_id": self.lapor_id,
            "tanggapan": [t.wire() for t in self.tanggapan],
            "dibuat_pada": format_time(self.dibuat_pada),
            "diperbarui_pada": format_time(self.diperbarui_pada),
        }
        wire.update(self.raw)
        return wire


# --- validation: each raises _Rejected(422) with the app's message ----------------


def _invalid(message: str) -> _Rejected:
    return _Rejected(422, message)


def _text(name: str, value: Any, *, required: bool) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{name} harus berupa teks")
    if required and not value.strip():
        raise _invalid(f"{name} wajib diisi")
    return value


def _optional_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    return _text(name, value, required=False)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(f"{name} harus true atau false")
    return value


def _kategori(value: Any) -> str:
    if value not in KATEGORI:
        raise _invalid(f"kategori tidak dikenal: {value!r}")
    return str(value)


def _status(value: Any) -> str:
    if value not in STATUS:
        raise _invalid(f"status tidak dikenal: {value!r}")
    return str(value)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{name} harus berupa angka")
    return float(value)


def _lokasi(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("lokasi harus berupa objek atau null")
    lokasi: dict[str, Any] = {
        "lat": _number("lokasi.lat", value.get("lat")),
        "lng": _number("lokasi.lng", value.get("lng")),
    }
    if value.get("alamat") is not None:
        lokasi["alamat"] = _text("lokasi.alamat", value["alamat"], required=False)
    return lokasi


def _pelapor(value: Any) -> dict[str, str | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("pelapor harus berupa objek atau null")
    return {key: _optional_text(f"pelapor.{key}", value.get(key)) for key in ("nama", "hp", "nik")}


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The known fields of ``fields``, validated; other keys are left out."""
    checks: dict[str, Callable[[Any], Any]] = {
        "judul": lambda v: _text("judul", v, required=False),
        "isi": lambda v: _text("isi", v, required=True),
        "kategori": _kategori,
        "lokasi": _lokasi,
        "pelapor": _pelapor,
        "anonim": lambda v: _flag("anonim", v),
        "rahasia": lambda v: _flag("rahasia", v),
        "opd": lambda v: _optional_text("opd", v),
        "lapor_id": lambda v: _optional_text("lapor_id", v),
        "status": _status,
    }
    return {name: check(fields[name]) for name, check in checks.items() if name in fields}


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise _Rejected(400, "body bukan JSON yang valid") from None
    if not isinstance(body, dict):
        raise _Rejected(400, "body harus berupa objek JSON")
    return body


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise _invalid(f"{name} harus bilangan bulat positif")
    return int(raw)


class TanjakSandbox(SandboxServer):
    """Tanjak's API on loopback over an in-memory store.

    ``now`` is a callable returning an aware datetime; tests replace it to
    control time. Every change to an aduan sets its ``diperbarui_pada`` to
    ``now()``, truncated to the second.
    """

    error_body: ClassVar[Any] = {"pesan": "terjadi kesalahan pada server"}

    def __init__(
        self,
        api_key: str = "tanjak-sandbox-key",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__(host, port, seed=seed)
        self.api_key = api_key
        self.now: Callable[[], datetime] = _utc_now
        self._rng = random.Random(seed)
        self._aduan: dict[int, _Aduan] = {}
        self._next_id = 1
        self._next_tanggapan_id = 1
        self.router.add("GET", r"/api/aduan", self._list)
        self.router.add("POST", r"/api/aduan", self._create)
        self.router.add("GET", r"/api/aduan/(?P<id>[^/]+)", self._get)
        self.router.add("PATCH", r"/api/aduan/(?P<id>[^/]+)", self._patch)
        self.router.add("POST", r"/api/aduan/(?P<id>[^/]+)/tanggapan", self._add_tanggapan)
        self.router.add("GET", r"/media/(?P<id>[^/]+)/(?P<n>[^/]+)\.jpg", self._media)

    # hooks -----------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        """Every path, photos included, needs the right ``X-Api-Key``."""
        if request.header("x-api-key") != self.api_key:
            return _error(401, "kunci API tidak valid")
        return None

    def dispatch(self, request: Request) -> Response:
        """Route the request; refusals become ``{"pesan": ...}`` answers."""
        try:
            response = super().dispatch(request)
        except _Rejected as exc:
            return _error(exc.status, exc.message)
        if response.status == 405:
            return _error(405, "metode tidak diizinkan")
        return response

    def not_found(self, request: Request) -> Response:
        """An unknown path."""
        return _error(404, "halaman tidak ditemukan")

    def fault_response(self, kind: str, params: dict[str, float]) -> Response:
        """Injected faults, with Tanjak's error body on a 429."""
        response = super().fault_response(kind, params)
        if kind == "429":
            return Response.json(429, {"pesan": "terlalu banyak permintaan"}, response.headers)
        return response

    # HTTP handlers -----------------------------------------------------------
    def _list(self, request: Request) -> Response:
        raw_since = request.arg("diperbarui_sejak")
        if not raw_since:
            raise _invalid("diperbarui_sejak wajib diisi")
        since = parse_time(raw_since)
        if since is None:
            raise _invalid("diperbarui_sejak harus waktu RFC 3339, mis. 2020-09-28T10:15:00+07:00")
        halaman = _int_arg(request, "halaman", 1)
        per_halaman = _int_arg(request, "per_halaman", DEFAULT_PAGE_SIZE)
        if halaman < 1:
            raise _invalid("halaman dimulai dari 1")
        if not 1 <= per_halaman <= MAX_PAGE_SIZE:
            raise _invalid(f"per_halaman harus antara 1 dan {MAX_PAGE_SIZE}")
        with self.lock:
            matching = sorted(
                (a for a in self._aduan.values() if a.diperbarui_pada >= since),
                key=lambda a: (a.diperbarui_pada, a.id),
            )
            page, total = page_slice(matching, halaman, per_halaman)
            data = [a.wire(self.url) for a in page]
        return Response.json(200, {"data": data, "halaman": halaman, "total_halaman": total})

    def _get(self, request: Request) -> Response:
        with self.lock:
            return Response.json(200, self._find(request.params["id"]).wire(self.url))

    def _create(self, request: Request) -> Response:
        fields = _clean(_json_object(request))
        if "isi" not in fields:
            raise _invalid("isi wajib diisi")
        if "kategori" not in fields:
            raise _invalid("kategori wajib diisi")
        with self.lock:
            return Response.json(201, self._insert(fields, self._tick()).wire(self.url))

    def _patch(self, request: Request) -> Response:
        body = _json_object(request)
        changes = _clean({k: v for k, v in body.items() if k in ("lapor_id", "status")})
        if not changes:
            raise _invalid("kirim lapor_id dan/atau status")
        with self.lock:
            aduan = self._find(request.params["id"])
            self._apply(aduan, changes)
            return Response.json(200, aduan.wire(self.url))

    def _add_tanggapan(self, request: Request) -> Response:
        body = _json_object(request)
        oleh = _text("oleh", body.get("oleh"), required=True)
        isi = _text("isi", body.get("isi"), required=True)
        ref = _optional_text("ref", body.get("ref"))
        waktu: datetime | None = None
        if body.get("waktu") is not None:
            waktu = parse_time(_text("waktu", body["waktu"], required=True))
            if waktu is None:
                raise _invalid("waktu harus waktu RFC 3339")
        with self.lock:
            aduan = self._find(request.params["id"])
            return Response.json(201, self._append_tanggapan(aduan, oleh, isi, ref, waktu).wire())

    def _media(self, request: Request) -> Response:
        with self.lock:
            aduan = self._find(request.params["id"])
            raw = request.params["n"]
            n = int(raw) if raw.isascii() and raw.isdigit() else 0
            if not 1 <= n <= len(aduan.photos):
                raise _Rejected(404, "foto tidak ditemukan")
            photo = aduan.photos[n - 1]
        return Response(200, photo.data, photo.content_type)

    # store -------------------------------------------------------------------
    def _tick(self) -> datetime:
        """Now, to the second: Tanjak keeps no finer time."""
        return self.now().astimezone(UTC).replace(microsecond=0)

    def _find(self, raw_id: str | int) -> _Aduan:
        aduan_id = raw_id if isinstance(raw_id, int) else _parse_id(raw_id)
        aduan = self._aduan.get(aduan_id) if aduan_id is not None else None
        if aduan is None:
            raise _Rejected(404, "aduan tidak ditemukan")
        return aduan

    def _insert(self, fields: dict[str, Any], created: datetime) -> _Aduan:
        anonim = bool(fields.get("anonim", False))
        aduan = _Aduan(
            id=self._next_id,
            judul=fields.get("judul", ""),
            isi=fields["isi"],
            kategori=fields["kategori"],
            lokasi=fields.get("lokasi"),
            pelapor=None if anonim else fields.get("pelapor"),
            anonim=anonim,
            rahasia=bool(fields.get("rahasia", False)),
            status=fields.get("status", "baru"),
            opd=fields.get("opd"),
            lapor_id=fields.get("lapor_id"),
            dibuat_pada=created,
            diperbarui_pada=created,
        )
        self._next_id += 1
        self._aduan[aduan.id] = aduan
        return aduan

    def _apply(self, aduan: _Aduan, changes: dict[str, Any]) -> None:
        """Set the validated ``changes``; bump ``diperbarui_pada`` if anything changed."""
        changed = False
        for name, value in changes.items():
            if name in aduan.raw or getattr(aduan, name) != value:
                aduan.raw.pop(name, None)  # a proper write repairs a corrupt field
                setattr(aduan, name, value)
                changed = True
        if aduan.anonim and aduan.pelapor is not None:
            aduan.pelapor = None  # the app forgets who an anonymous citizen is
            changed = True
        if changed:
            aduan.diperbarui_pada = self._tick()

    def _append_tanggapan(
        self, aduan: _Aduan, oleh: str, isi: str, ref: str | None, waktu: datetime | None
    ) -> _Tanggapan:
        now = self._tick()
        tanggapan = _Tanggapan(
            id=self._next_tanggapan_id,
            oleh=oleh,
            isi=isi,
            waktu=waktu.astimezone(UTC).replace(microsecond=0) if waktu is not None else now,
            ref=ref,
        )
        self._next_tanggapan_id += 1
        aduan.tanggapan.append(tanggapan)
        aduan.diperbarui_pada = now
        return tanggapan

    # control API: the citizens' and the OPDs' side ----------------------------
    def add_aduan(self, **fields: Any) -> dict[str, Any]:
        """A citizen files a complaint in the app; returns the aduan as the API shows it.

        ``fields`` are the aduan's: ``judul``, ``isi``, ``kategori``, ``lokasi``,
        ``pelapor``, ``anonim``, ``rahasia``, ``status``, ``opd``, ``lapor_id``, and
        ``dibuat_pada`` (an aware datetime, default now). Missing ones get
        realistic defaults: a complaint about a random topic somewhere in
        Tanjungpinang by a named citizen. Raises ValueError on a bad value.
        """
        created = fields.pop("dibuat_pada", None)
        unknown = set(fields) - {*_FIELDS, "status"}
        if unknown:
            raise TypeError(f"unknown aduan fields: {sorted(unknown)}")
        cleaned = _clean(fields)
        with self.lock:
            defaults = self._default_fields(cleaned.get("kategori"))
            aduan = self._insert(
                {**defaults, **cleaned},
                created.astimezone(UTC).replace(microsecond=0) if created else self._tick(),
            )
            return aduan.wire(self.url)

    def edit_aduan(self, aduan_id: int, **changes: Any) -> dict[str, Any]:
        """The citizen (or an operator) edits an aduan; bumps ``diperbarui_pada``.

        ``changes`` may name any field that ``add_aduan`` takes except
        ``dibuat_pada``. Raises KeyError for an unknown id, ValueError on a bad value.
        """
        unknown = set(changes) - {*_FIELDS, "status"}
        if unknown:
            raise TypeError(f"unknown aduan fields: {sorted(unknown)}")
        cleaned = _clean(changes)
        with self.lock:
            aduan = self._aduan[aduan_id]
            self._apply(aduan, cleaned)
            return aduan.wire(self.url)

    def respond(
        self,
        aduan_id: int,
        oleh: str,
        isi: str,
        *,
        ref: str | None = None,
        waktu: datetime | None = None,
    ) -> dict[str, Any]:
        """An OPD answers the complaint in the app; returns the tanggapan."""
        oleh = _text("oleh", oleh, required=True)
        isi = _text("isi", isi, required=True)
        with self.lock:
            aduan = self._aduan[aduan_id]
            return self._append_tanggapan(aduan, oleh, isi, ref, waktu).wire()

    def set_status(self, aduan_id: int, status: str) -> dict[str, Any]:
        """The OPD moves the aduan to ``status`` (any value of ``STATUS``)."""
        return self.edit_aduan(aduan_id, status=status)

    def corrupt(self, aduan_id: int, **raw: Any) -> dict[str, Any]:
        """Force wire fields to any value, outside the contract if need be.

        ``corrupt(7, status="entah")`` makes aduan 7 show ``"status": "entah"``
        from now on (until a proper write to that field); a field that the
        contract does not know is added as is. Bumps ``diperbarui_pada`` so
        that the record comes up in the feed. Returns the aduan as shown.
        """
        with self.lock:
            aduan = self._aduan[aduan_id]
            aduan.raw.update(raw)
            aduan.diperbarui_pada = self._tick()
            return aduan.wire(self.url)

    def add_photo(self, aduan_id: int, data: bytes, content_type: str = "image/jpeg") -> str:
        """Attach ``data`` as the next photo (any bytes); returns its URL.

        The URL always ends in ``.jpg``; the answer's Content-Type is
        ``content_type``. At most ``MAX_PHOTOS`` photos of ``MAX_PHOTO_BYTES``.
        """
        if len(data) > MAX_PHOTO_BYTES:
            raise ValueError(f"a photo is at most {MAX_PHOTO_BYTES} bytes")
        with self.lock:
            aduan = self._aduan[aduan_id]
            if len(aduan.photos) >= MAX_PHOTOS:
                raise ValueError(f"an aduan has at most {MAX_PHOTOS} photos")
            aduan.photos.append(_Photo(data, content_type))
            aduan.diperbarui_pada = self._tick()
            return f"{self.url}/media/{aduan.id}/{len(aduan.photos)}.jpg"

    def aduan(self, aduan_id: int) -> dict[str, Any]:
        """One aduan as the API shows it; KeyError when unknown."""
        with self.lock:
            return self._aduan[aduan_id].wire(self.url)

    def all_aduan(self) -> list[dict[str, Any]]:
        """Every aduan as the API shows it, by id."""
        with self.lock:
            return [self._aduan[i].wire(self.url) for i in sorted(self._aduan)]

    def seed_sample(self, rng: random.Random, n: int, photos: bool = True) -> list[dict[str, Any]]:
        """Fill the store with ``n`` realistic aduan from the last 30 days.

        About 20% anonymous, some confidential, some with an empty ``judul``
        or a null ``lokasi``, phone numbers typed in varied ways, statuses
        at every stage with the OPD's responses, and some records updated in
        the same second as the one before. Returns them as the API shows them.
        """
        now = self._tick()
        previous_update: datetime | None = None
        created_ids: list[int] = []
        with self.lock:
            for _ in range(n):
                topic, fields = self._sample_fields(rng)
                created = now - timedelta(seconds=rng.randrange(30 * 24 * 3600))
                aduan = self._insert(fields, created)
                self._sample_history(rng, aduan, topic, now)
                if photos:
                    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
                        aduan.photos.append(_sample_photo(rng))
                # OPD staff often update a batch of records in the same second
                if (
                    previous_update is not None
                    and previous_update >= aduan.diperbarui_pada
                    and rng.random() < 0.3
                ):
                    aduan.diperbarui_pada = previous_update
                previous_update = aduan.diperbarui_pada
                created_ids.append(aduan.id)
            return [self._aduan[i].wire(self.url) for i in created_ids]

    # sample data -------------------------------------------------------------
    def _default_fields(self, kategori: str | None) -> dict[str, Any]:
        topics = [t for t, k in _KATEGORI_BY_TOPIC.items() if kategori in (None, k)]
        topic = self._rng.choice(topics or list(_KATEGORI_BY_TOPIC))
        where = sample.place(self._rng, "tanjungpinang")
        text = sample.complaint(self._rng, topic, where)
        citizen = sample.person(self._rng, "tanjungpinang")
        return {
            "judul": text.title,
            "isi": text.text,
            "kategori": _KATEGORI_BY_TOPIC[topic],
            "lokasi": {"lat": where.lat, "lng": where.lng, "alamat": where.address},
            "pelapor": {"nama": citizen.name, "hp": citizen.phone, "nik": citizen.nik},
            "anonim": False,
            "rahasia": False,
            "status": "baru",
            "opd": sample.agency(topic),
            "lapor_id": None,
        }

    def _sample_fields(self, rng: random.Random) -> tuple[str, dict[str, Any]]:
        topic = rng.choice(sample.TOPICS)
        where = sample.place(rng, "tanjungpinang")
        text = sample.complaint(rng, topic, where)
        citizen = sample.person(rng, "tanjungpinang")
        anonim = rng.random() < 0.2
        lokasi: dict[str, Any] | None = {"lat": where.lat, "lng": where.lng}
        if rng.random() < 0.15:
            lokasi = None
        elif lokasi is not None and rng.random() < 0.8:
            lokasi["alamat"] = where.address
        return topic, {
            "judul": "" if rng.random() < 0.1 else text.title,
            "isi": text.text,
            "kategori": _KATEGORI_BY_TOPIC[topic],
            "lokasi": lokasi,
            "pelapor": {"nama": citizen.name, "hp": citizen.phone, "nik": citizen.nik},
            "anonim": anonim,
            "rahasia": not anonim and rng.random() < 0.1,
            "status": "baru",
            "opd": sample.agency(topic) if rng.random() < 0.7 else None,
            "lapor_id": None,
        }

    def _sample_history(self, rng: random.Random, aduan: _Aduan, topic: str, now: datetime) -> None:
        """Move a seeded aduan along, with the OPD's answers, never past ``now``."""
        stage = rng.choices(STATUS, weights=(4, 2, 2, 2, 1))[0]
        moment = aduan.dibuat_pada
        steps = STATUS[1 : STATUS.index(stage) + 1] if stage != "ditolak" else ("ditolak",)
        for status in steps:
            moment = min(now, moment + timedelta(seconds=rng.randrange(3600, 3 * 24 * 3600)))
            aduan.status = status
            if aduan.opd is None:
                aduan.opd = sample.agency(topic)
            if status in ("diproses", "selesai"):
                self._sample_tanggapan(aduan, aduan.opd, sample.response_text(rng, topic), moment)
            if status == "ditolak":
                text = "Aduan tidak dapat ditindaklanjuti karena bukan kewenangan kami."
                self._sample_tanggapan(aduan, aduan.opd, text, moment)
            aduan.diperbarui_pada = moment

    def _sample_tanggapan(self, aduan: _Aduan, oleh: str, isi: str, waktu: datetime) -> None:
        aduan.tanggapan.append(_Tanggapan(self._next_tanggapan_id, oleh, isi, waktu, None))
        self._next_tanggapan_id += 1


def _sample_photo(rng: random.Random) -> _Photo:
    if rng.random() < 0.1:
        return _Photo(sample.make_png(rng, 120, 90), "image/png")
    return _Photo(sample.make_jpeg(rng, 160, 120), "image/jpeg")


def _parse_id(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _error(status: int, pesan: str) -> Response:
    return Response.json(status, {"pesan": pesan})
