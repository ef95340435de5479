"""LAPOR-SP4N sandbox: the national complaint API (v3) on loopback.

A real HTTP server over an in-memory store that follows
``/work/shared/contract/lapor.md``, quirks included: the two auth headers
(``Authorization: Bearer <api_secret>`` and ``token: {<GUID>}``), the
``{"success", "message", "results"}`` envelope, absolute ``next_page_url``
paging where ``page_size`` is only a wish, ``attachments`` sent as a *string*
holding a JSON list, WIB times without offset, and no idempotency anywhere.

Tests and the demo drive the other side in-process: they add integration
accounts, act as the national admin (verify, dispose, archive, ...) and as
citizens (file directly on LAPOR, answer follow-ups), control the clock
through ``sandbox.now`` and switch faults on through ``sandbox.faults``.

Where the contract leaves room, this sandbox decides:

* A new complaint is held by nobody until the admin verifies it: at status
  10/20 ``disposition_id`` and ``disposition_name`` read ``null`` and the
  requested agency is only kept internally (``requested_disposition_id``).
  ``verify`` confirms it (or another agency), which sets status 30.
* The inbox lists complaints whose *current* disposition is the caller's
  agency. Only verified complaints have a disposition, so a complaint shows
  up from status 30 on, and stays listed at 40/50/60 and at 90 when it was
  archived after being disposed. A complaint handed back (``reject``) loses
  its disposition and leaves the inbox.
* Re-disposing a complaint to another agency (``dispose``) sets status 30:
  the new agency has not followed it up yet.
* Every status change and every follow-up writes a data log and bumps
  ``updated_at``, so the inbox (polled by ``updated_from``) sees it again.
* JSON fields that the contract shows as numbers must be JSON integers
  (``"1"`` is refused); ``channel`` must be 13 (integration); ``is_anonymous``
  and ``is_secret`` are required; a ``reporter`` sent with ``is_anonymous=1``
  is refused, because the contract says to omit it.
* Multipart form fields (follow-ups) are text, so numbers there are digit
  strings; a follow-up without files may also come urlencoded.
* Upload answers ``200`` (the contract gives no status; create and follow-up
  answer ``201``). A follow-up with ``mark_completed=1`` on an archived
  complaint is refused with ``422``; handing back a closed (60/90) complaint
  too.
* Reads are open to every account (a complaint moved elsewhere "can still be
  read and followed by id"); only follow-ups and hand-backs check the
  disposition (``403``). A read shows ``reporter`` (``name``, ``phone``,
  ``email``, ``nik``, or ``null``) only when the complaint is neither
  anonymous nor secret; otherwise the key is absent.
* Every list, reference data included, is paged with at most
  ``max_page_size`` items a page; the inbox refuses ``page_size`` > 100.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import urlencode

from adapters.sandbox import Request, Response, SandboxServer, UploadedFile, page_slice

__all__ = [
    "CATEGORY_TREE",
    "INSTITUTIONS",
    "MAX_UPLOAD_BYTES",
    "STATUS_NAMES",
    "WIB",
    "LaporSandbox",
]

WIB = timezone(timedelta(hours=7), "WIB")
TIME_FORMAT = "%d-%m-%Y %H:%M:%S"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
INBOX_PAGE_LIMIT = 100
AUTO_CLOSE_AFTER = timedelta(days=14)  # "10 working days", in calendar days
INTEGRATION_CHANNEL = 13
WEB_CHANNEL = 1  # complaints filed directly on lapor.go.id (modelled)

STATUS_NAMES: dict[int, str] = {
    10: "Belum Terverifikasi",
    20: "Ditunda",
    30: "Terdisposisi",
    40: "Ditindaklanjuti oleh Instansi",
    50: "Ditanggapi oleh Pelapor",
    60: "Selesai",
    90: "Diarsipkan",
}

#: (topic id, topic name, ((subtopic id, subtopic name), ...)), exactly the contract's tree
CATEGORY_TREE: tuple[tuple[int, str, tuple[tuple[int, str], ...]], ...] = (
    (12, "PEKERJAAN UMUM DAN PENATAAN RUANG", ((122, "JALAN BERLUBANG"), (121, "DRAINASE"))),
    (13, "LINGKUNGAN HIDUP DAN KEHUTANAN", ((131, "SAMPAH"), (132, "POHON TUMBANG"))),
    (14, "PERHUBUNGAN", ((141, "PENERANGAN JALAN UMUM"), (142, "PARKIR LIAR"))),
    (15, "ENERGI DAN SUMBER DAYA ALAM", ((151, "LISTRIK"),)),
    (16, "KESEHATAN", ()),
    (17, "PENDIDIKAN DAN KEBUDAYAAN", ()),
    (18, "KEPENDUDUKAN", ()),
    (19, "SOSIAL DAN KESEJAHTERAAN", ()),
    (20, "KETENTERAMAN, KETERTIBAN UMUM, DAN PELINDUNGAN MASYARAKAT", ()),
    (99, "TOPIK LAINNYA", ()),
)

#: agencies that can receive a disposition; the n-th has id 5101 + n. Close
#: names on purpose, and the two Malangs beyond the first page of 25.
INSTITUTIONS: tuple[str, ...] = (
    "Pemerintah Kota Tanjungpinang",
    "Pemerintah Provinsi Kepulauan Riau",
    "Pemerintah Kota Batam",
    "Pemerintah Kabupaten Bintan",
    "Pemerintah Kabupaten Karimun",
    "Pemerintah Kabupaten Lingga",
    "Pemerintah Kabupaten Natuna",
    "Pemerintah Kabupaten Kepulauan Anambas",
    "Pemerintah Provinsi Riau",
    "Pemerintah Kota Pekanbaru",
    "Pemerintah Kota Tanjungbalai",
    "Pemerintah Kabupaten Tanjung Jabung Barat",
    "Pemerintah Provinsi DKI Jakarta",
    "Pemerintah Provinsi Jawa Barat",
    "Pemerintah Kota Bandung",
    "Pemerintah Kabupaten Bandung",
    "Pemerintah Kota Bogor",
    "Pemerintah Kabupaten Bogor",
    "Pemerintah Provinsi Jawa Tengah",
    "Pemerintah Kota Semarang",
    "Pemerintah Kota Surakarta",
    "Pemerintah Provinsi Daerah Istimewa Yogyakarta",
    "Pemerintah Kota Yogyakarta",
    "Pemerintah Provinsi Jawa Timur",
    "Pemerintah Kota Surabaya",
    "Pemerintah Kabupaten Sidoarjo",
    "Pemerintah Kota Batu",
    "Pemerintah Kabupaten Malang",
    "Pemerintah Kota Malang",
    "Pemerintah Kota Kediri",
    "Pemerintah Kabupaten Kediri",
    "Pemerintah Kota Makassar",
    "Pemerintah Kota Medan",
    "Kementerian Kesehatan",
    "Kementerian Pendidikan Dasar dan Menengah",
    "Kementerian Pekerjaan Umum",
    "Kementerian Perhubungan",
    "Kementerian Sosial",
    "Kementerian Dalam Negeri",
    "Kementerian Agama",
    "Kementerian Lingkungan Hidup/Badan Pengendalian Lingkungan Hidup",
    "Kementerian Agraria dan Tata Ruang/Badan Pertanahan Nasional",
    "Badan Penyelenggara Jaminan Sosial Kesehatan",
    "Badan Kepegawaian Negara",
    "PT PLN (Persero)",
    "Kepolisian Negara Republik Indonesia",
)

_MAGIC: dict[str, bytes] = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "application/pdf": b"%PDF-",
}
_GUID = re.compile(
    r"\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}"
)
_TAG = re.compile(r"[a-z0-9-]{1,64}")
_LOCATION = re.compile(r"\d{2}\.\d{2}")
_DATE = re.compile(r"\d{2}-\d{2}-\d{4}")
_TIME = re.compile(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}")
_FOLLOWUP_FILE = re.compile(r"attachment\[(\d+)\]")
_REPORTER_KEYS = ("name", "phone", "email", "nik")
_MAX_ATTACHMENTS = 5


def _wib(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(WIB).strftime(TIME_FORMAT)


def _ok(results: dict[str, Any], *, status: int = 200, message: str = "Success") -> Response:
    return Response.json(status, {"success": True, "message": message, "results": results})


def _fail(status: int, message: str) -> Response:
    return Response.json(status, {"success": False, "message": message})


def _invalid(errors: dict[str, list[str]]) -> Response:
    return Response.json(
        422, {"success": False, "message": "The given data was invalid.", "errors": errors}
    )


def _file_problem(upload: UploadedFile) -> str | None:
    """Why an uploaded file is refused, or None: declared type, bytes, size."""
    magic = _MAGIC.get(upload.content_type)
    if magic is None:
        return "The file must be a file of type: jpeg, png, pdf."
    if len(upload.data) > MAX_UPLOAD_BYTES:
        return "The file may not be greater than 2048 kilobytes."
    if not upload.data.startswith(magic):
        return "The file content does not match its declared type."
    return None


class _Fields:
    """Reads a request's fields and collects Laravel-style errors.

    Checks that fail return a harmless default so that callers can read all
    fields, then answer 422 once with every error.
    """

    def __init__(self, data: Mapping[str, Any], *, form: bool = False) -> None:
        self.data = data
        self.form = form  # form fields are text: numbers come as digit strings
        self.errors: dict[str, list[str]] = {}

    def fail(self, name: str, text: str) -> None:
        self.errors.setdefault(name, []).append(text)

    def present(self, name: str) -> bool:
        return self.data.get(name) not in (None, "")

    def text(self, name: str, low: int, high: int, *, required: bool = True) -> str | None:
        if not self.present(name):
            if required:
                self.fail(name, f"The {name} field is required.")
            return None
        value = self.data[name]
        if not isinstance(value, str):
            self.fail(name, f"The {name} must be a string.")
            return None
        if not low <= len(value) <= high:
            self.fail(name, f"The {name} must be between {low} and {high} characters.")
        return value

    def integer(self, name: str, *, required: bool = True) -> int | None:
        if not self.present(name):
            if required:
                self.fail(name, f"The {name} field is required.")
            return None
        value = self.data[name]
        if self.form and isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.fail(name, f"The {name} must be an integer.")
        return None

    def flag(self, name: str, *, default: int | None = None) -> int:
        if default is not None and not self.present(name):
            return default
        value = self.integer(name)
        if value is not None and value not in (0, 1):
            self.fail(name, f"The {name} must be 0 or 1.")
        return 1 if value == 1 else 0


@dataclass
class _Account:
    api_secret: str
    token: str
    institution_id: int


@dataclass
class _Upload:
    id: int
    name: str
    content_type: str
    data: bytes


@dataclass
class _Log:
    created_at: datetime
    content: str
    status_old: int | None
    status_new: int
    institution_from_id: int | None
    institution_to_id: int | None


@dataclass
class _FollowUp:
    id: int
    content: str
    created_at: datetime
    author_type: str  # admin | instansi | pelapor
    institution_from_id: int | None
    institution_to_id: int | None
    attachments: list[int]


@dataclass
class _Complaint:
    id: int
    title: str
    content: str
    classification_id: int
    category_id: int
    requested_disposition_id: int | None
    status_code: int
    is_anonymous: int
    is_secret: int
    tags: list[str]
    created_at: datetime
    channel: int
    created_by: str | None  # the token of the integration account, None when filed on LAPOR
    reporter: dict[str, str | None] | None = None
    location_id: str | None = None
    date_of_incident: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    attachments: list[int] = field(default_factory=list)
    disposition_id: int | None = None
    updated_at: datetime | None = None
    logs: list[_Log] = field(default_factory=list)
    followups: list[_FollowUp] = field(default_factory=list)


class LaporSandbox(SandboxServer):
    """The LAPOR-SP4N v3 API on loopback, for tests and the demo.

    ``max_page_size`` caps every list page whatever ``page_size`` asks, so
    clients must follow ``next_page_url``. ``prefix`` is a path prefix for
    every route (production sits under ``/lapor/3.0.0``); use ``base_url``.
    ``now`` is the clock: a callable returning an aware datetime.
    """

    #: bodies of the injected 5xx and 422 faults, in LAPOR's envelope
    error_body: ClassVar[Any] = {"success": False, "message": "Internal Server Error"}
    validation_body: ClassVar[Any] = {
        "success": False,
        "message": "The given data was invalid.",
        "errors": {"request": ["The request could not be processed."]},
    }

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        max_page_size: int = 25,
        prefix: str = "",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(host, port, seed=seed)
        if max_page_size < 1:
            raise ValueError("max_page_size must be at least 1")
        self.max_page_size = max_page_size
        self.prefix = prefix.rstrip("/")
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self._accounts: dict[str, _Account] = {}
        self._institutions: dict[int, str] = {5101 + i: n for i, n in enumerate(INSTITUTIONS)}
        self._institution_ids = {name: id_ for id_, name in self._institutions.items()}
        self._categories: dict[int, tuple[int | None, str]] = {}
        for topic_id, topic, subtopics in CATEGORY_TREE:
            self._categories[topic_id] = (None, topic)
            for sub_id, sub in subtopics:
                self._categories[sub_id] = (topic_id, sub)
        self._complaints: dict[int, _Complaint] = {}
        self._uploads: dict[int, _Upload] = {}
        self._next_complaint_id = 9165000
        self._next_upload_id = 4199656
        self._next_followup_id = 7300001

        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", r"/masters/institutions/external", self._get_institutions),
            ("GET", r"/masters/categories", self._get_categories),
            ("POST", r"/complaints/complaint", self._post_complaint),
            ("POST", r"/complaints/complaint/file", self._post_file),
            ("GET", r"/complaints/(?P<id>\d+)/complaint", self._get_complaint),
            ("GET", r"/complaints", self._search),
            ("GET", r"/complaints/inbox", self._inbox),
            ("GET", r"/complaints/(?P<id>\d+)/followups", self._get_followups),
            ("POST", r"/complaints/followup/add", self._post_followup),
            ("POST", r"/complaints/process/(?P<id>\d+)/reject", self._post_reject),
        ]
        for method, pattern, handler in routes:
            self.router.add(method, re.escape(self.prefix) + pattern, handler)

    def __enter__(self) -> LaporSandbox:
        self.start()
        return self

    @property
    def base_url(self) -> str:
        """The URL clients are configured with: server address plus prefix."""
        return self.url + self.prefix

    # hooks -----------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        """401 unless both headers name one known integration account."""
        if self._caller(request) is None:
            return _fail(401, "Unauthorized")
        return None

    def not_found(self, request: Request) -> Response:
        return _fail(404, "Not Found")

    def fault_response(self, kind: str, params: dict[str, float]) -> Response:
        if kind == "429":
            retry_after = str(int(params.get("retry_after", 1)))
            return Response.json(
                429,
                {"success": False, "message": "Too Many Attempts."},
                {"Retry-After": retry_after},
            )
        return super().fault_response(kind, params)

    # control: accounts and reference data ------------------------------------
    def add_account(self, api_secret: str, token: str, institution: str) -> None:
        """Register an agency's integration account.

        ``token`` is a GUID written with its curly braces, as sent in the
        ``token`` header; ``institution`` an exact agency name.
        """
        if not _GUID.fullmatch(token):
            raise ValueError(f"token must be a GUID in curly braces, got {token!r}")
        institution_id = self.institution_id(institution)
        with self.lock:
            self._accounts[token] = _Account(api_secret, token, institution_id)

    def institution_id(self, name: str) -> int:
        """The id of the agency with exactly this name (KeyError otherwise)."""
        try:
            return self._institution_ids[name]
        except KeyError:
            raise KeyError(f"unknown institution {name!r}") from None

    def category_id(self, name_or_path: str) -> int:
        """The id of ``"TOPIC"`` or ``"TOPIC/SUBTOPIC"`` (KeyError otherwise)."""
        topic, _, subtopic = name_or_path.partition("/")
        for topic_id, topic_name, subtopics in CATEGORY_TREE:
            if topic_name != topic:
                continue
            if not subtopic:
                return topic_id
            for sub_id, sub_name in subtopics:
                if sub_name == subtopic:
                    return sub_id
        raise KeyError(f"unknown category {name_or_path!r}")

    # control: the national admin ---------------------------------------------
    def verify(self, id: int, institution: str | None = None) -> dict[str, Any]:
        """Verify a waiting complaint (10/20) and dispose it: status 30.

        It goes to ``institution`` when given, else to the agency the
        complaint asked for (one handed back asks for none any more: name
        the institution then). Returns the internal record.
        """
        with self.lock:
            complaint = self._get(id)
            if complaint.status_code not in (10, 20):
                raise ValueError(f"complaint {id} is not waiting for verification")
            if institution is not None:
                target = self.institution_id(institution)
            elif complaint.requested_disposition_id is not None:
                target = complaint.requested_disposition_id
            else:
                raise ValueError(f"complaint {id} asks for no agency: name the institution")
            complaint.disposition_id = target
            self._change(
                complaint,
                f"Laporan diverifikasi dan didisposisikan ke {self._institutions[target]}",
                30,
                to_id=target,
            )
            return self._internal(complaint)

    def postpone(self, id: int, reason: str) -> dict[str, Any]:
        """Postpone a waiting complaint (10 → 20 Ditunda): the reporter must complete it."""
        with self.lock:
            complaint = self._get(id)
            if complaint.status_code != 10:
                raise ValueError(f"complaint {id} is not waiting for verification")
            self._change(complaint, reason, 20)
            return self._internal(complaint)

    def dispose(self, id: int, institution: str) -> dict[str, Any]:
        """Move a complaint to another agency; status becomes 30 (new agency, no follow-up)."""
        with self.lock:
            complaint = self._get(id)
            if complaint.status_code in (60, 90):
                raise ValueError(f"complaint {id} is closed")
            old, target = complaint.disposition_id, self.institution_id(institution)
            complaint.disposition_id = target
            self._change(complaint, f"Laporan didisposisikan ke {institution}", 30, old, target)
            return self._internal(complaint)

    def admin_followup(self, id: int, content: str) -> dict[str, Any]:
        """Post a follow-up as the national admin; the status does not move."""
        with self.lock:
            complaint = self._get(id)
            followup = self._add_followup(complaint, "admin", content)
            self._change(complaint, "Tanggapan dari Admin LAPOR!", complaint.status_code)
            return self._render_followup(followup)

    def agency_followup(self, id: int, institution: str, content: str) -> dict[str, Any]:
        """Post a follow-up as an agency's staff on lapor.go.id, not through an integration.

        As the API's own post does: status 30 or 50 becomes 40.
        """
        with self.lock:
            complaint = self._get(id)
            from_id = self.institution_id(institution)
            followup = self._add_followup(complaint, "instansi", content, from_id=from_id)
            status = 40 if complaint.status_code in (30, 50) else complaint.status_code
            self._change(complaint, f"Ditindaklanjuti oleh {institution}", status, from_id)
            return self._render_followup(followup)

    def reporter_followup(self, id: int, content: str) -> dict[str, Any]:
        """Post the reporter's answer to a follow-up; status 40 becomes 50."""
        with self.lock:
            complaint = self._get(id)
            followup = self._add_followup(complaint, "pelapor", content)
            status = 50 if complaint.status_code == 40 else complaint.status_code
            self._change(complaint, "Tanggapan dari pelapor", status)
            return self._render_followup(followup)

    def archive(self, id: int, reason: str, *, followup: bool = True) -> dict[str, Any]:
        """Archive a complaint (90 Diarsipkan) with ``reason`` in its log (``data_logs``).

        By default the admin also posts the reason as a follow-up; with
        ``followup=False`` it is only in the log, which the contract shows only
        in a read by id. The disposition is kept, so an agency's inbox shows
        the archived complaint once more.
        """
        with self.lock:
            complaint = self._get(id)
            if complaint.status_code == 90:
                raise ValueError(f"complaint {id} is already archived")
            if followup:
                self._add_followup(complaint, "admin", reason)
            self._change(complaint, reason, 90)
            return self._internal(complaint)

    def complete(self, id: int) -> dict[str, Any]:
        """Close a complaint as done (60) by the admin."""
        with self.lock:
            complaint = self._get(id)
            if complaint.status_code in (60, 90):
                raise ValueError(f"complaint {id} is already closed")
            self._change(complaint, "Laporan diselesaikan oleh Admin LAPOR!", 60)
            return self._internal(complaint)

    def auto_close(self, now: datetime | None = None) -> list[int]:
        """Close (60) every complaint at 40 whose last follow-up is 14+ days old.

        Status 40 means the agency followed up and the reporter did not
        answer. ``now`` defaults to the sandbox clock. Returns the closed ids.
        """
        at = (now or self._now()).replace(microsecond=0)
        closed: list[int] = []
        with self.lock:
            for complaint in self._complaints.values():
                if complaint.status_code != 40 or not complaint.followups:
                    continue
                if at - complaint.followups[-1].created_at >= AUTO_CLOSE_AFTER:
                    self._change(complaint, "Laporan ditutup otomatis", 60, at=at)
                    closed.append(complaint.id)
        return closed

    # control: citizens filing directly on LAPOR ------------------------------
    def file_complaint(
        self,
        title: str,
        content: str,
        category: str,
        institution: str,
        *,
        reporter: Mapping[str, str] | None = None,
        is_anonymous: bool = False,
        is_secret: bool = False,
        verified: bool = True,
        tags: Iterable[str] = (),
        classification_id: int = 1,
        location_id: str | None = None,
    ) -> dict[str, Any]:
        """File a complaint as a citizen on lapor.go.id, about ``institution``.

        ``category`` is ``"TOPIC"`` or ``"TOPIC/SUBTOPIC"``. With ``verified``
        the admin verifies it at once, so it reaches the agency's inbox.
        Returns the internal record.
        """
        institution_id = self.institution_id(institution)
        category_id = self.category_id(category)
        with self.lock:
            complaint = self._create(
                title=title,
                content=content,
                classification_id=classification_id,
                category_id=category_id,
                requested_disposition_id=institution_id,
                is_anonymous=int(is_anonymous),
                is_secret=int(is_secret),
                tags=[t.lstrip("#") for t in tags],
                channel=WEB_CHANNEL,
                created_by=None,
                reporter=_reporter_record(reporter),
                location_id=location_id,
            )
            if verified:
                return self.verify(complaint.id)
            return self._internal(complaint)

    def seed_sample(self, rng: random.Random, n: int, institution: str) -> list[int]:
        """File ``n`` realistic complaints about ``institution``, verified; returns ids."""
        streets = _STREETS.get(institution, _STREETS[""])
        ids: list[int] = []
        for _ in range(n):
            category, title, content = rng.choice(_SAMPLES)
            street = rng.choice(streets)
            anonymous = rng.random() < 0.2
            secret = not anonymous and rng.random() < 0.1
            name = rng.choice(_NAMES)
            reporter = {
                "name": name,
                "phone": "08" + "".join(rng.choice("0123456789") for _ in range(10)),
                "email": name.lower().replace(" ", ".") + "@example.id",
                "nik": "".join(rng.choice("0123456789") for _ in range(16)),
            }
            record = self.file_complaint(
                title.format(street=street),
                content.format(street=street),
                category,
                institution,
                reporter=reporter,
                is_anonymous=anonymous,
                is_secret=secret,
            )
            ids.append(int(record["id"]))
        return ids

    # control: inspection -----------------------------------------------------
    def complaint(self, id: int) -> dict[str, Any]:
        """The full internal record (reporter, requester, logs...) of one complaint."""
        with self.lock:
            return self._internal(self._get(id))

    def complaints(self) -> list[dict[str, Any]]:
        """Every complaint's internal record, by id."""
        with self.lock:
            return [self._internal(c) for c in sorted(self._complaints.values(), key=_by_id)]

    def find_by_tag(self, tag: str) -> list[dict[str, Any]]:
        """Every complaint carrying ``tag`` (with or without '#'), whoever created it."""
        wanted = tag.lstrip("#")
        with self.lock:
            found = [c for c in self._complaints.values() if wanted in c.tags]
            return [self._internal(c) for c in sorted(found, key=_by_id)]

    def followups(self, id: int) -> list[dict[str, Any]]:
        """A complaint's follow-ups, oldest first, as the API shows them."""
        with self.lock:
            return [self._render_followup(f) for f in self._get(id).followups]

    @property
    def uploads(self) -> int:
        """How many files have been stored (uploads and follow-up attachments)."""
        with self.lock:
            return len(self._uploads)

    # handlers: reference data ------------------------------------------------
    def _get_institutions(self, request: Request) -> Response:
        rows = [{"id": id_, "name": name} for id_, name in sorted(self._institutions.items())]
        return self._paged(request, rows)

    def _get_categories(self, request: Request) -> Response:
        rows: list[dict[str, Any]] = []
        for topic_id, topic, subtopics in CATEGORY_TREE:
            rows.append({"id": topic_id, "parent_id": None, "name": topic})
            rows.extend({"id": s, "parent_id": topic_id, "name": n} for s, n in subtopics)
        return self._paged(request, rows)

    # handlers: complaints ----------------------------------------------------
    def _post_complaint(self, request: Request) -> Response:
        account = self._account(request)
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _invalid({"body": ["The body must be a JSON object."]})
        fields = _Fields(body)
        title = fields.text("title", 10, 150)
        content = fields.text("content", 20, 5000)
        classification_id = fields.integer("classification_id")
        if classification_id is not None and classification_id not in (1, 2, 3):
            fields.fail("classification_id", "The selected classification_id is invalid.")
        category_id = fields.integer("category_id")
        if category_id is not None and category_id not in self._categories:
            fields.fail("category_id", "The selected category_id is invalid.")
        disposition_id = fields.integer("disposition_id")
        if disposition_id is not None and disposition_id not in self._institutions:
            fields.fail("disposition_id", "The selected disposition_id is invalid.")
        location_id = fields.text("location_id", 1, 20)
        if location_id is not None and not _LOCATION.fullmatch(location_id):
            fields.fail("location_id", 'The location_id must be a region code like "21.72".')
        date_of_incident = fields.text("date_of_incident", 10, 10, required=False)
        if date_of_incident is not None and not _valid_date(date_of_incident):
            fields.fail("date_of_incident", "The date_of_incident must match dd-mm-YYYY.")
        channel = fields.integer("channel")
        if channel is not None and channel != INTEGRATION_CHANNEL:
            fields.fail("channel", "The channel of an integration must be 13.")
        is_anonymous = fields.flag("is_anonymous")
        is_secret = fields.flag("is_secret")
        reporter = _check_reporter(body.get("reporter"), is_anonymous, fields)
        latitude = _check_coordinate(body.get("latitude"), "latitude", 90, fields)
        longitude = _check_coordinate(body.get("longitude"), "longitude", 180, fields)
        address = fields.text("address", 1, 500, required=False)
        tags = _check_tags(body.get("tags_raw"), fields)
        with self.lock:
            attachments = self._check_attachment_ids(body.get("attachments"), fields)
            if fields.errors:
                return _invalid(fields.errors)
            assert title and content and classification_id and category_id and disposition_id
            complaint = self._create(
                title=title,
                content=content,
                classification_id=classification_id,
                category_id=category_id,
                requested_disposition_id=disposition_id,
                is_anonymous=is_anonymous,
                is_secret=is_secret,
                tags=tags,
                channel=INTEGRATION_CHANNEL,
                created_by=account.token,
                reporter=reporter,
                location_id=location_id,
                date_of_incident=date_of_incident,
                latitude=latitude,
                longitude=longitude,
                address=address,
                attachments=attachments,
            )
            return _ok(
                {"complaint": self._render(complaint)},
                status=201,
                message="Laporan berhasil dibuat",
            )

    def _post_file(self, request: Request) -> Response:
        _, files = request.multipart()
        uploads = [f for f in files if f.field == "attachments[]"]
        if not uploads:
            return _invalid({"attachments": ["The attachments field is required."]})
        errors: dict[str, list[str]] = {}
        for index, upload in enumerate(uploads):
            problem = _file_problem(upload)
            if problem is not None:
                errors[f"attachments.{index}"] = [problem]
        if errors:
            return _invalid(errors)
        with self.lock:
            docs = [{"id": self._store(u), "name": u.filename} for u in uploads]
        return _ok({"docs": docs}, message="File berhasil diunggah")

    def _get_complaint(self, request: Request) -> Response:
        with self.lock:
            complaint = self._complaints.get(int(request.params["id"]))
            if complaint is None:
                return _fail(404, "Laporan tidak ditemukan")
            logs = [self._render_log(log) for log in complaint.logs]
            return _ok({"data": self._render(complaint), "data_logs": logs})

    def _search(self, request: Request) -> Response:
        account = self._account(request)
        tag = request.arg("tag")
        if not tag:
            return _invalid({"tag": ["The tag field is required."]})
        if not _TAG.fullmatch(tag):
            return _invalid({"tag": ["The tag must match [a-z0-9-]{1,64}, without '#'."]})
        with self.lock:
            found = [
                c
                for c in sorted(self._complaints.values(), key=_by_id)
                if c.created_by == account.token and tag in c.tags
            ]
            return self._paged(request, [self._render(c) for c in found])

    def _inbox(self, request: Request) -> Response:
        account = self._account(request)
        since: datetime | None = None
        raw = request.arg("updated_from")
        if raw:
            since = _parse_time(raw)
            if since is None:
                return _invalid(
                    {"updated_from": ["The updated_from must match dd-mm-YYYY HH:MM:SS."]}
                )
        with self.lock:
            found = [
                c
                for c in self._complaints.values()
                if c.disposition_id == account.institution_id
                and c.status_code >= 30
                and (since is None or _updated(c) >= since)
            ]
            found.sort(key=lambda c: (_updated(c), c.id))
            return self._paged(request, [self._render(c) for c in found], limit=INBOX_PAGE_LIMIT)

    # handlers: follow-ups and hand-backs -------------------------------------
    def _get_followups(self, request: Request) -> Response:
        with self.lock:
            complaint = self._complaints.get(int(request.params["id"]))
            if complaint is None:
                return _fail(404, "Laporan tidak ditemukan")
            return self._paged(request, [self._render_followup(f) for f in complaint.followups])

    def _post_followup(self, request: Request) -> Response:
        account = self._account(request)
        is_multipart = (request.header("content-type") or "").startswith("multipart/form-data")
        files = request.multipart()[1] if is_multipart else []
        fields = _Fields(request.form(), form=True)
        complaint_id = fields.integer("complaint_id")
        institution_from_id = fields.integer("institution_from_id")
        content = fields.text("content", 10, 5000)
        mark_completed = fields.flag("mark_completed", default=0)
        attachments: list[UploadedFile] = []
        for upload in files:
            match = _FOLLOWUP_FILE.fullmatch(upload.field)
            if match is None:
                continue
            problem = _file_problem(upload)
            if problem is not None:
                fields.fail(f"attachment.{match.group(1)}", problem)
            attachments.append(upload)
        if fields.errors:
            return _invalid(fields.errors)
        assert complaint_id is not None and content is not None
        with self.lock:
            complaint = self._complaints.get(complaint_id)
            if complaint is None:
                return _fail(404, "Laporan tidak ditemukan")
            if institution_from_id != account.institution_id:
                return _fail(403, "institution_from_id is not this account's agency")
            if complaint.disposition_id != account.institution_id:
                return _fail(403, "Laporan tidak didisposisikan ke instansi Anda")
            if mark_completed and complaint.status_code == 90:
                return _invalid({"mark_completed": ["The complaint is archived."]})
            followup = self._add_followup(
                complaint,
                "instansi",
                content,
                from_id=account.institution_id,
                attachments=[self._store(u) for u in attachments],
            )
            if mark_completed:
                status = 60
            elif complaint.status_code in (30, 50):
                status = 40
            else:
                status = complaint.status_code
            name = self._institutions[account.institution_id]
            self._change(complaint, f"Ditindaklanjuti oleh {name}", status, account.institution_id)
            return _ok(
                {"followup": self._render_followup(followup)},
                status=201,
                message="Tindak lanjut berhasil ditambahkan",
            )

    def _post_reject(self, request: Request) -> Response:
        account = self._account(request)
        with self.lock:
            complaint = self._complaints.get(int(request.params["id"]))
            if complaint is None:
                return _fail(404, "Laporan tidak ditemukan")
            if complaint.disposition_id != account.institution_id:
                return _fail(403, "Laporan tidak didisposisikan ke instansi Anda")
            try:
                body = request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return _invalid({"body": ["The body must be a JSON object."]})
            fields = _Fields(body)
            if fields.integer("not_authority") not in (1, None):
                fields.fail("not_authority", "The not_authority must be 1.")
            reason = fields.text("reason_description", 1, 5000)
            if complaint.status_code in (60, 90):
                fields.fail("id", "The complaint is already closed.")
            if fields.errors:
                return _invalid(fields.errors)
            complaint.disposition_id = None
            complaint.requested_disposition_id = None
            self._change(complaint, f"Bukan wewenang: {reason}", 10, from_id=account.institution_id)
            return _ok({"complaint": self._render(complaint)}, message="Laporan dikembalikan")

    # internals ---------------------------------------------------------------
    def _now(self) -> datetime:
        now = self.now()
        if now.tzinfo is None:
            raise ValueError("LaporSandbox.now must return an aware datetime")
        return now.replace(microsecond=0)

    def _caller(self, request: Request) -> _Account | None:
        authorization = request.header("authorization") or ""
        token = request.header("token") or ""
        with self.lock:
            account = self._accounts.get(token)
        if account is None or authorization != f"Bearer {account.api_secret}":
            return None
        return account

    def _account(self, request: Request) -> _Account:
        account = self._caller(request)
        assert account is not None, "authorize() lets only known accounts through"
        return account

    def _get(self, id: int) -> _Complaint:
        try:
            return self._complaints[id]
        except KeyError:
            raise KeyError(f"unknown complaint {id}") from None

    def _create(self, **values: Any) -> _Complaint:
        now = self._now()
        complaint = _Complaint(id=self._next_complaint_id, status_code=10, created_at=now, **values)
        complaint.updated_at = now
        complaint.logs.append(_Log(now, "Laporan diterima", None, 10, None, None))
        self._next_complaint_id += 1
        self._complaints[complaint.id] = complaint
        return complaint

    def _store(self, upload: UploadedFile) -> int:
        stored = _Upload(self._next_upload_id, upload.filename, upload.content_type, upload.data)
        self._next_upload_id += 1
        self._uploads[stored.id] = stored
        return stored.id

    def _change(
        self,
        complaint: _Complaint,
        content: str,
        status: int,
        from_id: int | None = None,
        to_id: int | None = None,
        *,
        at: datetime | None = None,
    ) -> None:
        """Set a status, write its data log and bump ``updated_at``."""
        moment = at or self._now()
        complaint.logs.append(_Log(moment, content, complaint.status_code, status, from_id, to_id))
        complaint.status_code = status
        complaint.updated_at = moment

    def _add_followup(
        self,
        complaint: _Complaint,
        author_type: str,
        content: str,
        *,
        from_id: int | None = None,
        attachments: list[int] | None = None,
    ) -> _FollowUp:
        followup = _FollowUp(
            id=self._next_followup_id,
            content=content,
            created_at=self._now(),
            author_type=author_type,
            institution_from_id=from_id,
            institution_to_id=None,
            attachments=list(attachments or []),
        )
        self._next_followup_id += 1
        complaint.followups.append(followup)
        return followup

    def _check_attachment_ids(self, raw: Any, fields: _Fields) -> list[int]:
        if raw is None:
            return []
        if not isinstance(raw, str):
            fields.fail("attachments", 'The attachments must be a string like "[4199656]".')
            return []
        try:
            ids = json.loads(raw)
        except ValueError:
            ids = None
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            fields.fail("attachments", "The attachments must hold a JSON list of file ids.")
            return []
        if len(ids) > _MAX_ATTACHMENTS:
            fields.fail("attachments", "The attachments may not have more than 5 items.")
        for i in ids:
            if i not in self._uploads:
                fields.fail("attachments", f"The file {i} does not exist.")
        return list(ids)

    def _paged(
        self, request: Request, items: list[dict[str, Any]], *, limit: int | None = None
    ) -> Response:
        """One page of ``items`` with the absolute URL of the next one."""
        fields = _Fields({k: v[0] for k, v in request.query.items()}, form=True)
        page = fields.integer("page", required=False)
        wish = fields.integer("page_size", required=False)
        page = 1 if page is None else page
        wish = self.max_page_size if wish is None else wish
        if page < 1:
            fields.fail("page", "The page must be at least 1.")
        if wish < 1:
            fields.fail("page_size", "The page_size must be at least 1.")
        elif limit is not None and wish > limit:
            fields.fail("page_size", f"The page_size may not be greater than {limit}.")
        if fields.errors:
            return _invalid(fields.errors)
        size = min(wish, self.max_page_size)
        data, pages = page_slice(items, page, size)
        next_url = None
        if page < pages:
            query = dict(request.query)
            query["page"] = [str(page + 1)]
            next_url = f"{self.url}{request.path}?{urlencode(query, doseq=True)}"
        return _ok({"data": data, "next_page_url": next_url})

    # rendering ---------------------------------------------------------------
    def _name(self, institution_id: int | None) -> str | None:
        return None if institution_id is None else self._institutions[institution_id]

    def _render(self, complaint: _Complaint) -> dict[str, Any]:
        """The complaint as the API shows it; never the reporter of an anonymous/secret one."""
        data: dict[str, Any] = {
            "id": complaint.id,
            "tracking_id": f"#{complaint.id}",
            "title": complaint.title,
            "content": complaint.content,
            "classification_id": complaint.classification_id,
            "category_id": complaint.category_id,
            "disposition_id": complaint.disposition_id,
            "disposition_name": self._name(complaint.disposition_id),
            "status_code": complaint.status_code,
            "status_name": STATUS_NAMES[complaint.status_code],
            "is_anonymous": complaint.is_anonymous,
            "is_secret": complaint.is_secret,
            "tags": list(complaint.tags),
            "created_at": _wib(complaint.created_at),
            "updated_at": _wib(complaint.updated_at),
        }
        if not (complaint.is_anonymous or complaint.is_secret):
            data["reporter"] = copy.deepcopy(complaint.reporter)
        return data

    def _internal(self, complaint: _Complaint) -> dict[str, Any]:
        data = self._render(complaint)
        data.update(
            reporter=copy.deepcopy(complaint.reporter),
            requested_disposition_id=complaint.requested_disposition_id,
            channel=complaint.channel,
            created_by=complaint.created_by,
            location_id=complaint.location_id,
            date_of_incident=complaint.date_of_incident,
            latitude=complaint.latitude,
            longitude=complaint.longitude,
            address=complaint.address,
            attachments=list(complaint.attachments),
            data_logs=[self._render_log(log) for log in complaint.logs],
        )
        return data

    def _render_log(self, log: _Log) -> dict[str, Any]:
        return {
            "created_at": _wib(log.created_at),
            "content": log.content,
            "status_old": log.status_old,
            "status_new": log.status_new,
            "institution_from_name": self._name(log.institution_from_id),
            "institution_to_name": self._name(log.institution_to_id),
        }

    def _render_followup(self, followup: _FollowUp) -> dict[str, Any]:
        return {
            "id": followup.id,
            "content": followup.content,
            "created_at": _wib(followup.created_at),
            "author_type": followup.author_type,
            "institution_from_name": self._name(followup.institution_from_id),
            "institution_to_name": self._name(followup.institution_to_id),
            "attachments": [{"id": i, "name": self._uploads[i].name} for i in followup.attachments],
        }


def _by_id(complaint: _Complaint) -> int:
    return complaint.id


def _updated(complaint: _Complaint) -> datetime:
    return complaint.updated_at or complaint.created_at


def _valid_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        datetime.strptime(text, "%d-%m-%Y")
    except ValueError:
        return False
    return True


def _parse_time(text: str) -> datetime | None:
    """A ``dd-mm-YYYY HH:MM:SS`` WIB time, or None."""
    if not _TIME.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=WIB)
    except ValueError:
        return None


def _reporter_record(raw: Mapping[str, Any] | None) -> dict[str, str | None] | None:
    if raw is None:
        return None
    return {key: raw.get(key) for key in _REPORTER_KEYS}


def _check_reporter(raw: Any, is_anonymous: int, fields: _Fields) -> dict[str, str | None] | None:
    if raw is None:
        return None
    if is_anonymous:
        fields.fail("reporter", "The reporter must be omitted for an anonymous complaint.")
        return None
    if not isinstance(raw, dict):
        fields.fail("reporter", "The reporter must be an object.")
        return None
    for key, value in raw.items():
        if key not in _REPORTER_KEYS:
            fields.fail(f"reporter.{key}", f"Unknown reporter field {key!r}.")
        elif value is not None and not isinstance(value, str):
            fields.fail(f"reporter.{key}", f"The reporter.{key} must be a string.")
    return _reporter_record(raw)


def _check_coordinate(raw: Any, name: str, bound: float, fields: _Fields) -> float | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        fields.fail(name, f"The {name} must be a number.")
        return None
    try:
        value = float(raw)
    except ValueError:
        fields.fail(name, f"The {name} must be a number.")
        return None
    if not -bound <= value <= bound:
        fields.fail(name, f"The {name} must be between -{bound:g} and {bound:g}.")
        return None
    return value


def _check_tags(raw: Any, fields: _Fields) -> list[str]:
    if raw is None or raw == "":
        return []
    if not isinstance(raw, str):
        fields.fail("tags_raw", "The tags_raw must be a string.")
        return []
    tags: list[str] = []
    for word in raw.split():
        if not (word.startswith("#") and _TAG.fullmatch(word[1:])):
            fields.fail("tags_raw", f"Invalid tag {word!r}: each must be #[a-z0-9-]{{1,64}}.")
        elif word[1:] not in tags:
            tags.append(word[1:])
    return tags


# sample data for seed_sample ---------------------------------------------------
_STREETS: dict[str, tuple[str, ...]] = {
    "Pemerintah Kota Tanjungpinang": (
        "Jl. Ganet",
        "Jl. D.I. Panjaitan",
        "Jl. Wiratno",
        "Jl. Pramuka",
        "Jl. Sultan Mahmud",
        "Jl. Basuki Rahmat",
        "Jl. Ir. Sutami",
        "Jl. Raja Haji Fisabilillah",
    ),
    "Pemerintah Kota Malang": (
        "Jl. Soekarno-Hatta",
        "Jl. Ijen",
        "Jl. Kawi",
        "Jl. Veteran",
        "Jl. Letjen Sutoyo",
        "Jl. Mayjen Panjaitan",
        "Jl. Borobudur",
        "Jl. Sawojajar",
    ),
    "": (
        "Jl. Merdeka",
        "Jl. Sudirman",
        "Jl. Ahmad Yani",
        "Jl. Diponegoro",
        "Jl. Gatot Subroto",
        "Jl. Pahlawan",
    ),
}

_NAMES = (
    "Budi Santoso",
    "Siti Aminah",
    "Rahmat Hidayat",
    "Dewi Lestari",
    "Agus Salim",
    "Nur Aini",
    "Hendra Gunawan",
    "Rina Marlina",
    "Fajar Nugroho",
    "Yuliana Sari",
)

#: (category path, title, content); {street} is filled in
_SAMPLES: tuple[tuple[str, str, str], ...] = (
    (
        "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE",
        "Banjir setiap hujan deras di {street}",
        "Setiap hujan deras air menggenang setinggi lutut di {street} karena saluran air "
        "tersumbat lumpur dan sampah. Air masuk ke rumah warga. Mohon drainase segera "
        "dinormalisasi.",
    ),
    (
        "PEKERJAAN UMUM DAN PENATAAN RUANG/JALAN BERLUBANG",
        "Jalan berlubang membahayakan pengendara di {street}",
        "Ada beberapa lubang besar di badan jalan {street} dekat simpang. Sudah ada pengendara "
        "motor yang jatuh pada malam hari. Mohon segera ditambal sebelum musim hujan.",
    ),
    (
        "LINGKUNGAN HIDUP DAN KEHUTANAN/SAMPAH",
        "Tumpukan sampah tidak diangkut di {street}",
        "Sampah rumah tangga sudah menumpuk lebih dari seminggu di pinggir {street} dan "
        "menimbulkan bau tidak sedap. Truk pengangkut sampah tidak datang. Mohon ditindaklanjuti.",
    ),
    (
        "LINGKUNGAN HIDUP DAN KEHUTANAN/POHON TUMBANG",
        "Pohon tumbang menutup sebagian {street}",
        "Pohon besar tumbang setelah angin kencang semalam dan menutup separuh badan jalan di "
        "{street}. Kendaraan harus bergantian lewat. Mohon segera dipotong dan dibersihkan.",
    ),
    (
        "PERHUBUNGAN/PENERANGAN JALAN UMUM",
        "Lampu penerangan jalan mati di {street}",
        "Sudah dua minggu lampu PJU di sepanjang {street} mati sehingga jalan gelap gulita "
        "di malam hari dan rawan kejahatan. Mohon lampu segera diperbaiki.",
    ),
    (
        "PERHUBUNGAN/PARKIR LIAR",
        "Parkir liar menyebabkan macet di {street}",
        "Banyak kendaraan parkir di bahu jalan {street} depan pertokoan sehingga lalu lintas "
        "macet setiap sore. Juru parkir tidak resmi memungut biaya. Mohon ditertibkan.",
    ),
    (
        "ENERGI DAN SUMBER DAYA ALAM/LISTRIK",
        "Listrik sering padam di sekitar {street}",
        "Dalam seminggu terakhir listrik padam hampir setiap malam di sekitar {street} tanpa "
        "pemberitahuan. Peralatan elektronik warga rusak. Mohon penjelasan dan perbaikan.",
    ),
    (
        "KESEHATAN",
        "Antrean puskesmas dekat {street} terlalu lama",
        "Pasien harus antre lebih dari empat jam di puskesmas dekat {street} dan petugas "
        "pendaftaran hanya satu orang. Mohon pelayanan ditingkatkan.",
    ),
    (
        "KEPENDUDUKAN",
        "KTP elektronik belum jadi setelah tiga bulan",
        "Saya sudah melakukan perekaman KTP elektronik tiga bulan lalu di kantor kecamatan "
        "dekat {street} tetapi sampai sekarang belum dicetak. Mohon kejelasannya.",
    ),
    (
        "KETENTERAMAN, KETERTIBAN UMUM, DAN PELINDUNGAN MASYARAKAT",
        "Pedagang kaki lima menutup trotoar {street}",
        "Trotoar di {street} penuh lapak pedagang kaki lima sehingga pejalan kaki terpaksa "
        "berjalan di badan jalan. Mohon penataan oleh Satpol PP.",
    ),
)
