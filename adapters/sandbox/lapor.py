"""LAPOR-SP4N sandbox: the national complaint API (v3) on loopback.

A real HTTP server over an in-memory store that follows **version 2** of
``/work/shared/contract/lapor.md``, quirks included: the secret under a
configurable header (``Authorization: Bearer <api_secret>`` by default) and
``token: {<GUID>}``, the ``{"success", "message", "results"}`` envelope,
absolute ``next_page_url`` paging where ``page_size`` is only a wish,
``attachments`` sent as a *string* holding a JSON list, WIB times without
offset, create answers of varying shape, follow-ups without ids, history
items in every form the contract lists, and no idempotency anywhere.

Profiles: with no ``capabilities`` (the default) it is the *evidenced*
profile; ``capabilities`` adds any of ``tag_search`` (``GET /complaints?tag=``),
``inbox`` (``GET /complaints/inbox``), ``categories``
(``GET /masters/categories``), ``mark_completed`` and ``reporter``. Without
them the three endpoints answer ``404`` and the two fields are accepted and
ignored.

Tests and the demo drive the other side in-process: they add integration
accounts, act as the national admin (verify, dispose, archive, ...), as an
agency's staff on lapor.go.id and as citizens (file directly on LAPOR,
answer follow-ups), control the clock through ``sandbox.now`` and switch
faults on through ``sandbox.faults``. The topic tree is LAPOR's real one of
2025 (:mod:`adapters.lapor.topics`) with ids of the sandbox's own.

Where the contract leaves room, this sandbox decides:

* A new complaint is held by nobody until the admin verifies it: at status
  10/20 ``disposition_id`` and ``disposition_name`` read ``null`` and the
  requested agency is kept internally (``requested_disposition_id``).
  ``verify`` disposes it there (or to the agency named), which sets status
  30, ``status_name`` ``Terdisposisi ke <agency>``, and adds a disposition
  event (template ``disposition``, from ``Admin Nasional``) to its
  follow-ups. ``dispose`` (moving it to another agency) does the same.
* Create validates the v2 field table and nothing else passes: a key not in
  the table (nor among the seen-but-unused ones, which are ignored) is
  refused with ``422`` on that key; so are ``nik`` (also inside
  ``reporter``), ``latitude``, ``longitude`` and ``address``. Numbers must
  be JSON integers (``"13"`` is refused); ``is_anonymous``/``is_secret`` are
  required, JSON booleans or ``0``/``1``. ``classification_id`` and
  ``location_id`` accept any positive integer. With ``reporter``, a
  ``reporter`` sent with an anonymous complaint is refused (the contract
  says to omit it). ``is_new_user_slider`` with ``nameUser``/``phoneUser``/
  ``emailUser`` stores the reporter, in every profile.
* The create answer's shape is ``create_answer`` (``201`` for the
  ``complaint`` shape, ``200`` for the others); ``create_delay`` seconds pass
  after the complaint is stored and before the answer, outside the lock.
* Reads show ``tracking_id`` and ``tags`` only with ``tag_search``, and a
  ``reporter`` (``name``, ``phone``, ``email``) only with ``reporter`` and only
  when the complaint is neither anonymous nor secret. ``status_code`` is
  shaped by ``status_code_form``. ``status_logs`` has one ``note`` per history
  item, placeholders filled.
* ``data_logs`` items vary by their index ``i`` in the history: agency names
  flat (``i % 3 == 0``, with plain ids), nested (``1``) or as objects in place
  of the ids (``2``); statuses as objects (``i`` even) or inside a JSON string
  ``data`` (``i`` odd), ``status_old`` absent on the first item; the time as
  ``created_at`` (``i // 3`` even) or ``date`` (odd). Contents are templates
  with placeholders, except the admin's reasons (postpone, archive), which
  are the reason as written.
* Follow-up items carry ``id`` per ``followup_ids``; in the default
  ``mixed``, only those posted through the API by an integration account.
  Admin items come from ``Admin Nasional`` with template ``reply``, the
  reporter's have ``institution_from_name`` and ``template_code`` ``null``,
  an agency's staff typing on the site (``agency_followup``) post from their
  institution to it with ``reply``. ``template_content`` is the template's
  ``content``.
* ``POST /complaints/followup/add`` answers ``200`` with only ``success`` and
  ``message``. ``user_id`` must be the caller's (``422``); an
  ``institution_from_id`` other than the caller's, or a complaint not
  disposed to it, is ``403``. ``template_code`` must be one of
  ``/masters/templates``. With ``mark_completed``, ``mark_completed=1`` needs
  the ``done`` template and is refused on an archived complaint (``422``).
  Follow-ups on a closed complaint (60/90) are kept but move nothing.
  Multipart fields are text, so numbers there are digit strings; a
  follow-up without files may also come urlencoded.
* ``POST /complaints/process/{id}/reject`` answers ``200`` with only
  ``success`` and ``message``. ``reason`` is a JSON integer (an agency other
  than the caller's) or ``""``/absent; ``reason_description`` is required.
  Either way the complaint goes back to 10 without disposition; a named
  agency becomes the requested disposition, which ``verify`` then uses.
* Reads are open to every account; only follow-ups and hand-backs check the
  disposition (``403``). Upload answers ``200``.
* Every status change, follow-up and hand-back writes a history item and
  bumps ``updated_at``, so the inbox (polled by ``updated_from``) sees it
  again. The inbox lists complaints whose *current* disposition is the
  caller's agency, ``page_size`` ≤ 100. Tag search lists the caller's own
  complaints (by account) carrying the tag.
* Every list, reference data included, is paged with at most
  ``max_page_size`` items a page.
"""

from __future__ import annotations

import copy
import json
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import urlencode

from adapters.lapor.topics import Category, category_tree
from adapters.sandbox.server import Request, Response, SandboxServer, UploadedFile, page_slice

__all__ = [
    "CAPABILITIES",
    "CATEGORY_TREE",
    "CREATE_ANSWERS",
    "INSTITUTIONS",
    "MAX_UPLOAD_BYTES",
    "STATUS_NAMES",
    "TEMPLATES",
    "WIB",
    "LaporSandbox",
]

WIB = timezone(timedelta(hours=7), "WIB")
TIME_FORMAT = "%d-%m-%Y %H:%M:%S"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
INBOX_PAGE_LIMIT = 100
AUTO_CLOSE_AFTER = timedelta(days=14)  # "10 working days", in calendar days
CHANNELS = (13, 26)  # 13 web/integration, 26 WhatsApp
SITE_CHANNEL = 13  # complaints filed directly on lapor.go.id (modelled)
FIRST_USER_ID = 100001

CAPABILITIES = ("tag_search", "inbox", "categories", "mark_completed", "reporter")
CREATE_ANSWERS = ("complaint", "top_level", "data", "results_id", "string_id")
_ROTATE = "rotate"
FOLLOWUP_IDS = ("all", "none", "mixed")
STATUS_CODE_FORMS = ("string", "int", "absent")

STATUS_NAMES: dict[int, str] = {
    10: "Belum Terverifikasi",
    20: "Ditunda",
    30: "Terdisposisi",
    40: "Ditindaklanjuti oleh Instansi",
    50: "Ditanggapi oleh Pelapor",
    60: "Selesai",
    90: "Diarsipkan",
}
_CLOSED = (60, 90)

#: every (id, parent_id, name) of the real 2025 topic tree, topics first in the
#: file's order, each row followed by its children (see adapters.lapor.topics)
CATEGORY_TREE: tuple[Category, ...] = category_tree().rows

#: follow-up templates of ``GET /masters/templates``; ``tindak_lanjut`` stands
#: for a deployment-specific reply code
TEMPLATES: tuple[dict[str, str], ...] = (
    {"code": "reply", "name": "Tanggapan", "content": "Tanggapan dari {{institution_from}}"},
    {
        "code": "disposition",
        "name": "Disposisi",
        "content": "Laporan didisposisikan dari {{institution_from}} ke {{ institution_to }}",
    },
    {
        "code": "done",
        "name": "Selesai",
        "content": "{{institution_from}} menyatakan laporan telah selesai ditindaklanjuti",
    },
    {
        "code": "tindak_lanjut",
        "name": "Tindak Lanjut Instansi",
        "content": "Tindak lanjut dari {{institution_from}}",
    },
)
_TEMPLATE_CONTENT = {t["code"]: t["content"] for t in TEMPLATES}

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

#: the national admin, as history items and follow-ups name it (not an agency
#: of /masters/institutions/external)
ADMIN_ID, ADMIN_NAME = 1, "Admin Nasional"

_MAGIC: dict[str, bytes] = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "application/pdf": b"%PDF-",
}
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
_GUID = re.compile(
    r"\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}"
)
_TAG = re.compile(r"[a-z0-9-]{1,64}")
_DATE = re.compile(r"\d{2}-\d{2}-\d{4}")
_ISO_UTC = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d{1,6})?Z")
_TIME = re.compile(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_FOLLOWUP_FILE = re.compile(r"attachment\[(\d+)\]")
_REPORTER_KEYS = ("name", "phone", "email")
_MAX_ATTACHMENTS = 5

#: create fields of the contract's table (``reporter`` is the capability's)
_CREATE_FIELDS = frozenset(
    {
        "title",
        "content",
        "classification_id",
        "category_id",
        "disposition_id",
        "location_id",
        "channel",
        "user_id",
        "is_anonymous",
        "is_secret",
        "date_of_incident",
        "tags_raw",
        "attachments",
        "is_new_user_slider",
        "nameUser",
        "phoneUser",
        "emailUser",
        "reporter",
    }
)
#: seen in public code, not sent by the bridge: accepted and ignored
_IGNORED_FIELDS = frozenset(
    {
        "is_inbox",
        "is_disposisi_slider",
        "is_approval",
        "is_priority",
        "priority_program_id",
        "community_id",
        "copy_externals",
        "info_disposition",
        "info_attachments",
    }
)
#: never sent: version 1's fields and the NIK
_REFUSED_FIELDS = {
    "nik": "The NIK must never be sent.",
    "latitude": "The latitude field is not accepted: write the place into content.",
    "longitude": "The longitude field is not accepted: write the place into content.",
    "address": "The address field is not accepted: write the place into content.",
}


def _wib(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(WIB).strftime(TIME_FORMAT)


def _ok(results: dict[str, Any], *, status: int = 200, message: str = "Success") -> Response:
    return Response.json(status, {"success": True, "message": message, "results": results})


def _done(message: str, *, status: int = 200) -> Response:
    return Response.json(status, {"success": True, "message": message})


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

    def integer(self, name: str, *, required: bool = True, positive: bool = False) -> int | None:
        if not self.present(name):
            if required:
                self.fail(name, f"The {name} field is required.")
            return None
        value = self.data[name]
        number: int | None = None
        if self.form and isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value):
            number = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        if number is None:
            self.fail(name, f"The {name} must be an integer.")
            return None
        if positive and number < 1:
            self.fail(name, f"The {name} must be at least 1.")
            return None
        return number

    def flag(self, name: str, *, default: int | None = None) -> int:
        """``0``/``1``; in JSON also ``false``/``true``."""
        if default is not None and not self.present(name):
            return default
        value = self.data.get(name)
        if not self.form and isinstance(value, bool):
            return int(value)
        number = self.integer(name)
        if number is not None and number not in (0, 1):
            self.fail(name, f"The {name} must be true, false, 0 or 1.")
        return 1 if number == 1 else 0


@dataclass
class _Account:
    api_secret: str
    token: str
    institution_id: int
    user_id: int


@dataclass
class _Upload:
    id: int
    name: str
    content_type: str
    data: bytes


@dataclass
class _Log:
    """One history item: a status change, a disposition, a follow-up, a hand-back."""

    created_at: datetime
    content: str  # a template with placeholders, or plain text
    status_old: int | None
    status_new: int
    institution_from_id: int | None = None
    institution_to_id: int | None = None
    institution_id: int | None = None  # who acted, for {{institution}}


@dataclass
class _FollowUp:
    id: int
    content: str
    created_at: datetime
    institution_from_id: int | None  # None: the reporter
    institution_to_id: int | None
    template_code: str | None
    via_api: bool  # posted through the API by an integration account
    attachments: list[int]
    is_secret: bool = False


@dataclass
class _Complaint:
    id: int
    title: str
    content: str
    classification_id: int
    category_id: int
    requested_disposition_id: int | None
    status_code: int
    is_anonymous: bool
    is_secret: bool
    tags: list[str]
    created_at: datetime
    channel: int
    created_by: str | None  # the token of the integration account, None when filed on LAPOR
    user_id: int | None = None  # the creating integration user's LAPOR id
    reporter: dict[str, str | None] | None = None
    location_id: int | None = None
    date_of_incident: str | None = None
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
    ``now`` is the clock: a callable returning an aware datetime. The other
    keywords shape the profile and the answers (module docstring);
    ``create_answer`` and ``create_delay`` may be changed at any time, as may
    ``followup_ids`` and ``status_code_form``.
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
        capabilities: Iterable[str] = (),
        auth_header: str = "Authorization",
        create_answer: str = "complaint",
        followup_ids: str = "mixed",
        status_code_form: str = "string",
        create_delay: float = 0.0,
    ) -> None:
        if max_page_size < 1:
            raise ValueError("max_page_size must be at least 1")
        chosen = frozenset(capabilities)
        unknown = chosen - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown capabilities {sorted(unknown)}; known: {CAPABILITIES}")
        _check_choice("create_answer", create_answer, (*CREATE_ANSWERS, _ROTATE))
        _check_choice("followup_ids", followup_ids, FOLLOWUP_IDS)
        _check_choice("status_code_form", status_code_form, STATUS_CODE_FORMS)
        if not auth_header.strip():
            raise ValueError("auth_header must name a header")
        super().__init__(host, port, seed=seed)  # binds the socket: check settings first
        self.max_page_size = max_page_size
        self.prefix = prefix.rstrip("/")
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.capabilities: frozenset[str] = chosen
        self.auth_header = auth_header
        self.create_answer = create_answer
        self.followup_ids = followup_ids
        self.status_code_form = status_code_form
        self.create_delay = create_delay
        self._tree = category_tree()
        self._accounts: dict[str, _Account] = {}
        self._institutions: dict[int, str] = {5101 + i: n for i, n in enumerate(INSTITUTIONS)}
        self._institution_ids = {name: id_ for id_, name in self._institutions.items()}
        self._complaints: dict[int, _Complaint] = {}
        self._uploads: dict[int, _Upload] = {}
        self._next_complaint_id = 9165000
        self._next_upload_id = 4199656
        self._next_followup_id = 7300001
        self._rotation = 0

        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", r"/masters/institutions/external", self._get_institutions),
            ("GET", r"/masters/templates", self._get_templates),
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

    def has(self, capability: str) -> bool:
        """Whether ``capability`` is configured."""
        return capability in self.capabilities

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
    def add_account(
        self, api_secret: str, token: str, institution: str, user_id: int | None = None
    ) -> int:
        """Register an agency's integration account; returns its LAPOR user id.

        ``token`` is a GUID written with its curly braces, as sent in the
        ``token`` header; ``institution`` an exact agency name. ``user_id``
        defaults to 100001, 100002, ... in order of addition.
        """
        if not _GUID.fullmatch(token):
            raise ValueError(f"token must be a GUID in curly braces, got {token!r}")
        institution_id = self.institution_id(institution)
        with self.lock:
            if user_id is None:
                user_id = FIRST_USER_ID + len(self._accounts)
            taken = {a.user_id for a in self._accounts.values() if a.token != token}
            if user_id in taken:
                raise ValueError(f"user_id {user_id} belongs to another account")
            self._accounts[token] = _Account(api_secret, token, institution_id, user_id)
            return user_id

    def institution_id(self, name: str) -> int:
        """The id of the agency with exactly this name (KeyError otherwise)."""
        try:
            return self._institution_ids[name]
        except KeyError:
            raise KeyError(f"unknown institution {name!r}") from None

    def category_id(self, path: str) -> int:
        """The id of ``"TOPIC"``, ``"TOPIC/SUB"`` or ``"TOPIC/SUB/SUBSUB"``.

        Compared after NFKC, whitespace collapsing and upper-casing, whole
        paths only; a ``/`` inside a name is part of it. KeyError when unknown.
        """
        return self._tree.resolve(path)

    def category_path(self, id: int) -> str:
        """The ``TOPIC/SUB/SUBSUB`` path of a category id (KeyError when unknown)."""
        return self._tree.path(id)

    # control: the national admin ---------------------------------------------
    def verify(self, id: int, institution: str | None = None) -> dict[str, Any]:
        """Verify a waiting complaint (10/20) and dispose it: status 30.

        It goes to ``institution`` when given, else to the agency the
        complaint asked for (or was asked to be forwarded to); one handed
        back asks for none: name the institution then. Returns the internal
        record.
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
            self._dispose(complaint, target)
            return self._internal(complaint)

    def postpone(self, id: int, reason: str) -> dict[str, Any]:
        """Postpone a waiting complaint (10 → 20 Ditunda): the reporter must complete it."""
        with self.lock:
            complaint = self._get(id)
            if complaint.status_code != 10:
                raise ValueError(f"complaint {id} is not waiting for verification")
            self._change(complaint, reason, 20, from_id=ADMIN_ID)
            return self._internal(complaint)

    def dispose(self, id: int, institution: str) -> dict[str, Any]:
        """Move a complaint to an agency; status 30 (new agency, no follow-up yet)."""
        with self.lock:
            complaint = self._get(id)
            if complaint.status_code in _CLOSED:
                raise ValueError(f"complaint {id} is closed")
            self._dispose(complaint, self.institution_id(institution))
            return self._internal(complaint)

    def admin_followup(self, id: int, content: str) -> dict[str, Any]:
        """Post a follow-up as the national admin (template ``reply``); no status moves."""
        with self.lock:
            complaint = self._get(id)
            followup = self._add_followup(
                complaint, content, ADMIN_ID, complaint.disposition_id, "reply", via_api=False
            )
            self._change(complaint, "Tanggapan dari {{institution_from}}", None, from_id=ADMIN_ID)
            return self._internal_followup(followup)

    def agency_followup(self, id: int, institution: str, content: str) -> dict[str, Any]:
        """Post a follow-up as an agency's staff on lapor.go.id, not through an integration.

        From and to that institution, template ``reply``; as the API's own
        post does, status 30 or 50 becomes 40.
        """
        with self.lock:
            complaint = self._get(id)
            from_id = self.institution_id(institution)
            followup = self._add_followup(
                complaint, content, from_id, from_id, "reply", via_api=False
            )
            self._followed_up(complaint, from_id, mark_completed=False)
            return self._internal_followup(followup)

    def reporter_followup(self, id: int, content: str) -> dict[str, Any]:
        """Post the reporter's answer to a follow-up; status 40 becomes 50."""
        with self.lock:
            complaint = self._get(id)
            followup = self._add_followup(
                complaint, content, None, complaint.disposition_id, None, via_api=False
            )
            status = 50 if complaint.status_code == 40 else None
            self._change(
                complaint,
                "Pelapor menanggapi tindak lanjut: {{status_old}} menjadi {{status_new}}",
                status,
            )
            return self._internal_followup(followup)

    def archive(self, id: int, reason: str, *, followup: bool = True) -> dict[str, Any]:
        """Archive a complaint (90 Diarsipkan); ``reason`` is its history item's content.

        By default the admin also posts the reason as a follow-up; with
        ``followup=False`` it is only in the history (``data_logs``). The
        disposition is kept, so an agency's inbox shows the complaint once more.
        """
        with self.lock:
            complaint = self._get(id)
            if complaint.status_code == 90:
                raise ValueError(f"complaint {id} is already archived")
            if followup:
                self._add_followup(
                    complaint, reason, ADMIN_ID, complaint.disposition_id, "reply", via_api=False
                )
            self._change(complaint, reason, 90, from_id=ADMIN_ID)
            return self._internal(complaint)

    def complete(self, id: int) -> dict[str, Any]:
        """Close a complaint as done (60) by the admin."""
        with self.lock:
            complaint = self._get(id)
            if complaint.status_code in _CLOSED:
                raise ValueError(f"complaint {id} is already closed")
            self._change(complaint, "Laporan diselesaikan oleh {{institution_from}}", 60, ADMIN_ID)
            return self._internal(complaint)

    def auto_close(self, now: datetime | None = None) -> list[int]:
        """Close (60) every complaint at 40 whose agency's last follow-up is 14+ days old.

        Status 40 means the agency followed up and the reporter did not
        answer. ``now`` defaults to the sandbox clock. Returns the closed ids.
        """
        at = (now or self._now()).replace(microsecond=0)
        closed: list[int] = []
        with self.lock:
            for complaint in self._complaints.values():
                if complaint.status_code != 40:
                    continue
                agency = [
                    f
                    for f in complaint.followups
                    if f.institution_from_id is not None
                    and f.institution_from_id != ADMIN_ID
                    and f.template_code != "disposition"
                ]
                if agency and at - agency[-1].created_at >= AUTO_CLOSE_AFTER:
                    self._change(
                        complaint,
                        "Laporan selesai otomatis: {{status_old}} menjadi {{status_new}}",
                        60,
                        at=at,
                    )
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
        reporter: Mapping[str, str | None] | None = None,
        is_anonymous: bool = False,
        is_secret: bool = False,
        verified: bool = True,
        tags: Iterable[str] = (),
        classification_id: int = 6,
        location_id: int | None = None,
    ) -> dict[str, Any]:
        """File a complaint as a citizen on lapor.go.id, about ``institution``.

        ``category`` is a path for :meth:`category_id`. With ``verified``
        the admin verifies it at once (status 30, disposed to
        ``institution``). Its id comes from the same sequence as the API's.
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
                is_anonymous=bool(is_anonymous),
                is_secret=bool(is_secret),
                tags=[t.lstrip("#") for t in tags],
                channel=SITE_CHANNEL,
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
        """The full internal record (reporter, requester, history...) of one complaint."""
        with self.lock:
            return self._internal(self._get(id))

    def complaints(self) -> list[dict[str, Any]]:
        """Every complaint's internal record, by id."""
        with self.lock:
            return [self._internal(c) for c in sorted(self._complaints.values(), key=_by_id)]

    def find_by_tag(self, tag: str) -> list[dict[str, Any]]:
        """Every complaint carrying ``tag`` (with or without '#'), whoever created it.

        A control method: it works in every profile.
        """
        wanted = tag.lstrip("#")
        with self.lock:
            found = [c for c in self._complaints.values() if wanted in c.tags]
            return [self._internal(c) for c in sorted(found, key=_by_id)]

    def complaint_by_marker(self, marker: str) -> list[dict[str, Any]]:
        """Every complaint whose ``content`` contains ``marker``, by id."""
        with self.lock:
            found = [c for c in self._complaints.values() if marker in c.content]
            return [self._internal(c) for c in sorted(found, key=_by_id)]

    def followups(self, id: int, *, disposition_events: bool = True) -> list[dict[str, Any]]:
        """A complaint's follow-ups, oldest first, as the API lists them.

        Disposition events (template ``disposition``) are included unless
        ``disposition_events=False``. Each item is as the API shows it, but
        always with ``id``, plus ``via_api`` (posted through the API by an
        integration account) and ``is_secret``.
        """
        with self.lock:
            return [
                self._internal_followup(f)
                for f in self._get(id).followups
                if disposition_events or f.template_code != "disposition"
            ]

    @property
    def uploads(self) -> int:
        """How many files have been stored (uploads and follow-up attachments)."""
        with self.lock:
            return len(self._uploads)

    # handlers: reference data ------------------------------------------------
    def _get_institutions(self, request: Request) -> Response:
        rows = [{"id": id_, "name": name} for id_, name in sorted(self._institutions.items())]
        return self._paged(request, rows)

    def _get_templates(self, request: Request) -> Response:
        return self._paged(request, [dict(t) for t in TEMPLATES])

    def _get_categories(self, request: Request) -> Response:
        if not self.has("categories"):
            return self.not_found(request)
        rows = [row._asdict() for row in self._tree.rows]
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
        for key in body:
            if key in _REFUSED_FIELDS:
                fields.fail(key, _REFUSED_FIELDS[key])
            elif key not in _CREATE_FIELDS and key not in _IGNORED_FIELDS:
                fields.fail(key, f"The {key} field is not part of the API.")
        title = fields.text("title", 10, 150)
        content = fields.text("content", 20, 5000)
        classification_id = fields.integer("classification_id", positive=True)
        category_id = fields.integer("category_id")
        if category_id is not None and category_id not in self._tree:
            fields.fail("category_id", "The selected category_id is invalid.")
        disposition_id = fields.integer("disposition_id")
        if disposition_id is not None and disposition_id not in self._institutions:
            fields.fail("disposition_id", "The selected disposition_id is invalid.")
        location_id = fields.integer("location_id", positive=True)
        channel = fields.integer("channel")
        if channel is not None and channel not in CHANNELS:
            fields.fail("channel", "The selected channel is invalid.")
        user_id = fields.integer("user_id")
        if user_id is not None and user_id != account.user_id:
            fields.fail("user_id", "The user_id is not this account's user.")
        is_anonymous = bool(fields.flag("is_anonymous"))
        is_secret = bool(fields.flag("is_secret"))
        date_of_incident = _check_date(body.get("date_of_incident"), fields)
        tags = _check_tags(body.get("tags_raw"), fields)
        reporter = self._check_reporter(body, is_anonymous, fields)
        with self.lock:
            attachments = self._check_attachment_ids(body.get("attachments"), fields)
            if fields.errors:
                return _invalid(fields.errors)
            assert title and content and classification_id and category_id and disposition_id
            assert channel is not None
            complaint = self._create(
                title=title,
                content=content,
                classification_id=classification_id,
                category_id=category_id,
                requested_disposition_id=disposition_id,
                is_anonymous=is_anonymous,
                is_secret=is_secret,
                tags=tags,
                channel=channel,
                created_by=account.token,
                user_id=account.user_id,
                reporter=reporter,
                location_id=location_id,
                date_of_incident=date_of_incident,
                attachments=attachments,
            )
            answer = self._create_answer(complaint)
        if self.create_delay > 0:
            time.sleep(self.create_delay)
        return answer

    def _create_answer(self, complaint: _Complaint) -> Response:
        shape = self.create_answer
        if shape == _ROTATE:
            shape = CREATE_ANSWERS[self._rotation % len(CREATE_ANSWERS)]
            self._rotation += 1
        message = "Laporan berhasil dibuat"
        if shape == "complaint":
            rendered = self._render(complaint)
            rendered["id"] = complaint.id
            return _ok({"complaint": rendered}, status=201, message=message)
        if shape == "top_level":
            return Response.json(
                200, {"complaint_id": complaint.id, "success": True, "message": message}
            )
        if shape == "data":
            return Response.json(200, {"data": {"complaint_id": complaint.id}})
        if shape == "results_id":
            return Response.json(200, {"success": True, "results": {"complaint_id": complaint.id}})
        if shape == "string_id":
            return Response.json(
                200, {"complaint_id": str(complaint.id), "success": True, "message": message}
            )
        raise ValueError(f"unknown create_answer {shape!r}")

    def _check_reporter(
        self, body: Mapping[str, Any], is_anonymous: bool, fields: _Fields
    ) -> dict[str, str | None] | None:
        """The reporter to store: from ``reporter`` (capability) or the new-user slider."""
        raw = body.get("reporter")
        if isinstance(raw, dict) and "nik" in raw:
            fields.fail("reporter.nik", _REFUSED_FIELDS["nik"])
        reporter: dict[str, str | None] | None = None
        if raw is not None and self.has("reporter"):
            if is_anonymous:
                fields.fail("reporter", "The reporter must be omitted for an anonymous complaint.")
            elif not isinstance(raw, dict):
                fields.fail("reporter", "The reporter must be an object.")
            else:
                for key, value in raw.items():
                    if key == "nik":
                        continue
                    if key not in _REPORTER_KEYS:
                        fields.fail(f"reporter.{key}", f"Unknown reporter field {key!r}.")
                    elif value is not None and not isinstance(value, str):
                        fields.fail(f"reporter.{key}", f"The reporter.{key} must be a string.")
                reporter = _reporter_record(raw)
        slider = fields.flag("is_new_user_slider", default=0)
        slider_keys = (("nameUser", "name"), ("phoneUser", "phone"), ("emailUser", "email"))
        for key, _ in slider_keys:
            value = body.get(key)
            if value is not None and not isinstance(value, str):
                fields.fail(key, f"The {key} must be a string.")
        if slider and reporter is None:
            reporter = {target: body.get(key) for key, target in slider_keys}
        return reporter

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
        images: list[dict[str, Any]] = []
        docs: list[dict[str, Any]] = []
        with self.lock:
            for upload in uploads:
                item = {"id": self._store(upload), "name": upload.filename}
                (images if upload.content_type.startswith("image/") else docs).append(item)
        return _ok({"images": images, "docs": docs}, message="File berhasil diunggah")

    def _get_complaint(self, request: Request) -> Response:
        with self.lock:
            complaint = self._complaints.get(int(request.params["id"]))
            if complaint is None:
                return _fail(404, "Laporan tidak ditemukan")
            logs = [self._render_log(log, i) for i, log in enumerate(complaint.logs)]
            return _ok({"data": self._render(complaint), "data_logs": logs})

    def _search(self, request: Request) -> Response:
        if not self.has("tag_search"):
            return self.not_found(request)
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
        if not self.has("inbox"):
            return self.not_found(request)
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
        user_id = fields.integer("user_id")
        if user_id is not None and user_id != account.user_id:
            fields.fail("user_id", "The user_id is not this account's user.")
        institution_from_id = fields.integer("institution_from_id")
        institution_to_id = fields.integer("institution_to_id")
        if institution_to_id is not None and institution_to_id not in self._institutions:
            fields.fail("institution_to_id", "The selected institution_to_id is invalid.")
        template_code = fields.text("template_code", 1, 100)
        if template_code is not None and template_code not in _TEMPLATE_CONTENT:
            fields.fail("template_code", "The selected template_code is invalid.")
        content = fields.text("content", 10, 5000)
        is_secret = fields.flag("is_secret", default=0)
        mark_completed = 0
        if self.has("mark_completed"):
            mark_completed = fields.flag("mark_completed", default=0)
            if mark_completed and template_code not in (None, "done"):
                fields.fail("mark_completed", "The mark_completed needs the done template.")
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
        assert complaint_id is not None and content is not None and template_code is not None
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
            self._add_followup(
                complaint,
                content,
                account.institution_id,
                institution_to_id,
                template_code,
                via_api=True,
                attachments=[self._store(u) for u in attachments],
                is_secret=bool(is_secret),
            )
            self._followed_up(
                complaint, account.institution_id, mark_completed=bool(mark_completed)
            )
            return _done("Tindak lanjut berhasil ditambahkan")

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
            fields.flag("is_request", default=1)
            if fields.flag("not_authority", default=1) != 1:
                fields.fail("not_authority", "The not_authority must be 1.")
            target = fields.integer("reason", required=False)
            if target is not None and target not in self._institutions:
                fields.fail("reason", "The reason must be an institution id or empty.")
            elif target == account.institution_id:
                fields.fail("reason", "The reason may not be the complaint's own agency.")
            description = fields.text("reason_description", 1, 5000)
            if complaint.status_code in _CLOSED:
                fields.fail("id", "The complaint is already closed.")
            if fields.errors:
                return _invalid(fields.errors)
            complaint.disposition_id = None
            complaint.requested_disposition_id = target
            if target is None:
                text = "Laporan dikembalikan oleh {{institution_from}} karena bukan wewenang"
            else:
                text = "{{institution_from}} meminta laporan diteruskan ke {{ institution_to }}"
            self._change(
                complaint,
                f"{text}: {description}",
                10,
                from_id=account.institution_id,
                to_id=target,
                actor_id=account.institution_id,
            )
            return _done("Laporan dikembalikan ke Admin")

    # internals ---------------------------------------------------------------
    def _now(self) -> datetime:
        now = self.now()
        if now.tzinfo is None:
            raise ValueError("LaporSandbox.now must return an aware datetime")
        return now.replace(microsecond=0)

    def _caller(self, request: Request) -> _Account | None:
        secret = request.header(self.auth_header) or ""
        token = request.header("token") or ""
        with self.lock:
            account = self._accounts.get(token)
        if account is None or secret != f"Bearer {account.api_secret}":
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

    def _name(self, institution_id: int | None) -> str | None:
        if institution_id is None:
            return None
        if institution_id == ADMIN_ID:
            return ADMIN_NAME
        return self._institutions[institution_id]

    def _create(self, **values: Any) -> _Complaint:
        now = self._now()
        complaint = _Complaint(id=self._next_complaint_id, status_code=10, created_at=now, **values)
        complaint.updated_at = now
        complaint.logs.append(_Log(now, "Laporan dibuat dengan status {{status_new}}", None, 10))
        self._next_complaint_id += 1
        self._complaints[complaint.id] = complaint
        return complaint

    def _store(self, upload: UploadedFile) -> int:
        stored = _Upload(self._next_upload_id, upload.filename, upload.content_type, upload.data)
        self._next_upload_id += 1
        self._uploads[stored.id] = stored
        return stored.id

    def _dispose(self, complaint: _Complaint, target: int) -> None:
        """Dispose to ``target`` (status 30), with its history item and disposition event."""
        complaint.disposition_id = target
        complaint.requested_disposition_id = target
        self._add_followup(
            complaint,
            f"Laporan Anda telah didisposisikan kepada {self._institutions[target]}",
            ADMIN_ID,
            target,
            "disposition",
            via_api=False,
        )
        self._change(
            complaint,
            _TEMPLATE_CONTENT["disposition"],
            30,
            from_id=ADMIN_ID,
            to_id=target,
            actor_id=ADMIN_ID,
        )

    def _followed_up(self, complaint: _Complaint, from_id: int, *, mark_completed: bool) -> None:
        """An agency's follow-up: 30/50 → 40, or 60 when marked completed."""
        if complaint.status_code in _CLOSED:
            status: int | None = None
        elif mark_completed:
            status = 60
        elif complaint.status_code in (30, 50):
            status = 40
        else:
            status = None
        self._change(
            complaint,
            "{{institution}} menindaklanjuti laporan: {{status_old}} menjadi {{status_new}}",
            status,
            from_id=from_id,
            actor_id=from_id,
        )

    def _change(
        self,
        complaint: _Complaint,
        content: str,
        status: int | None,
        from_id: int | None = None,
        to_id: int | None = None,
        *,
        actor_id: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """Set a status (None: keep it), write its history item and bump ``updated_at``."""
        moment = at or self._now()
        new = complaint.status_code if status is None else status
        log = _Log(moment, content, complaint.status_code, new, from_id, to_id, actor_id)
        complaint.logs.append(log)
        complaint.status_code = new
        complaint.updated_at = moment

    def _add_followup(
        self,
        complaint: _Complaint,
        content: str,
        from_id: int | None,
        to_id: int | None,
        template_code: str | None,
        *,
        via_api: bool,
        attachments: list[int] | None = None,
        is_secret: bool = False,
    ) -> _FollowUp:
        followup = _FollowUp(
            id=self._next_followup_id,
            content=content,
            created_at=self._now(),
            institution_from_id=from_id,
            institution_to_id=to_id,
            template_code=template_code,
            via_api=via_api,
            attachments=list(attachments or []),
            is_secret=is_secret,
        )
        self._next_followup_id += 1
        complaint.followups.append(followup)
        return followup

    def _check_attachment_ids(self, raw: Any, fields: _Fields) -> list[int]:
        if raw is None or raw is False:
            return []
        if not isinstance(raw, str):
            fields.fail(
                "attachments", 'The attachments must be a string like "[4199656]" or false.'
            )
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
    def _status_name(self, complaint: _Complaint) -> str:
        if complaint.status_code == 30 and complaint.disposition_id is not None:
            return f"Terdisposisi ke {self._institutions[complaint.disposition_id]}"
        return STATUS_NAMES[complaint.status_code]

    def _fill(self, log: _Log) -> str:
        """The history item's content with its placeholders filled."""
        values = {
            "institution_from": self._name(log.institution_from_id),
            "institution_to": self._name(log.institution_to_id),
            "institution": self._name(log.institution_id),
            "status_old": None if log.status_old is None else STATUS_NAMES[log.status_old],
            "status_new": STATUS_NAMES[log.status_new],
        }

        def replace(match: re.Match[str]) -> str:
            value = values.get(match.group(1))
            return match.group(0) if value is None else value

        return _PLACEHOLDER.sub(replace, log.content)

    def _render(self, complaint: _Complaint) -> dict[str, Any]:
        """The complaint as the API shows it (``results.data``)."""
        data: dict[str, Any] = {
            "id": complaint.id,
            "title": complaint.title,
            "content": complaint.content,
            "status_name": self._status_name(complaint),
        }
        if self.status_code_form == "string":
            data["status_code"] = str(complaint.status_code)
        elif self.status_code_form == "int":
            data["status_code"] = complaint.status_code
        data.update(
            disposition_id=complaint.disposition_id,
            disposition_name=self._name(complaint.disposition_id),
            status_logs=[
                {"note": self._fill(log), "timestamp": _wib(log.created_at)}
                for log in complaint.logs
            ],
            category_id=complaint.category_id,
            classification_id=complaint.classification_id,
            is_anonymous=complaint.is_anonymous,
            is_secret=complaint.is_secret,
            created_at=_wib(complaint.created_at),
            updated_at=_wib(complaint.updated_at),
        )
        if self.has("tag_search"):
            data["tracking_id"] = f"#{complaint.id}"
            data["tags"] = list(complaint.tags)
        shown = not (complaint.is_anonymous or complaint.is_secret)
        if self.has("reporter") and shown and complaint.reporter is not None:
            data["reporter"] = copy.deepcopy(complaint.reporter)
        return data

    def _internal(self, complaint: _Complaint) -> dict[str, Any]:
        data = self._render(complaint)
        data.update(
            status_code=complaint.status_code,
            tracking_id=f"#{complaint.id}",
            tags=list(complaint.tags),
            reporter=copy.deepcopy(complaint.reporter),
            requested_disposition_id=complaint.requested_disposition_id,
            channel=complaint.channel,
            created_by=complaint.created_by,
            user_id=complaint.user_id,
            location_id=complaint.location_id,
            date_of_incident=complaint.date_of_incident,
            attachments=list(complaint.attachments),
            data_logs=[
                {
                    "created_at": _wib(log.created_at),
                    "content": log.content,
                    "text": self._fill(log),
                    "status_old": log.status_old,
                    "status_new": log.status_new,
                    "institution_from_name": self._name(log.institution_from_id),
                    "institution_to_name": self._name(log.institution_to_id),
                    "institution_name": self._name(log.institution_id),
                }
                for log in complaint.logs
            ],
        )
        return data

    def _render_log(self, log: _Log, index: int) -> dict[str, Any]:
        """One ``data_logs`` item, in the forms chosen by its index (module docstring)."""
        item: dict[str, Any] = {}
        item["created_at" if (index // 3) % 2 == 0 else "date"] = _wib(log.created_at)
        item["content"] = log.content
        form = index % 3
        agencies = (
            ("institution_from", log.institution_from_id),
            ("institution_to", log.institution_to_id),
            ("institution", log.institution_id),
        )
        for key, institution_id in agencies:
            if institution_id is None:
                continue
            named = {"id": institution_id, "name": self._name(institution_id)}
            if form == 0:
                item[f"{key}_id"] = institution_id
                item[f"{key}_name"] = named["name"]
            elif form == 1:
                item[key] = named
            else:
                item[f"{key}_id"] = named
        statuses: dict[str, Any] = {}
        if log.status_old is not None:
            statuses["status_old"] = {"name": STATUS_NAMES[log.status_old]}
        statuses["status_new"] = {"name": STATUS_NAMES[log.status_new]}
        if index % 2 == 0:
            item.update(statuses)
        else:
            item["data"] = json.dumps(statuses, ensure_ascii=False)
        return item

    def _render_followup(self, followup: _FollowUp) -> dict[str, Any]:
        item: dict[str, Any] = {}
        if self.followup_ids == "all" or (self.followup_ids == "mixed" and followup.via_api):
            item["id"] = followup.id
        code = followup.template_code
        item.update(
            content=followup.content,
            created_at=_wib(followup.created_at),
            institution_from_name=self._name(followup.institution_from_id),
            institution_to_name=self._name(followup.institution_to_id),
            template_code=code,
            template_content=None if code is None else _TEMPLATE_CONTENT.get(code),
            attachments=[self._render_attachment(i) for i in followup.attachments],
        )
        return item

    def _render_attachment(self, upload_id: int) -> dict[str, str]:
        upload = self._uploads[upload_id]
        extension = _EXTENSIONS.get(upload.content_type, "bin")
        return {
            "path": f"{self.url}/storage/followups/{upload.id}.{extension}",
            "file_name": upload.name,
            "extension": extension,
        }

    def _internal_followup(self, followup: _FollowUp) -> dict[str, Any]:
        item = self._render_followup(followup)
        return {
            "id": followup.id,
            **item,
            "via_api": followup.via_api,
            "is_secret": followup.is_secret,
        }


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _by_id(complaint: _Complaint) -> int:
    return complaint.id


def _updated(complaint: _Complaint) -> datetime:
    return complaint.updated_at or complaint.created_at


def _check_date(raw: Any, fields: _Fields) -> str | None:
    """``date_of_incident``: ISO 8601 UTC (``...T00:00:00.000000Z``) or ``dd-mm-YYYY``."""
    if raw is None or raw == "":
        return None
    problem = "The date_of_incident must be ISO 8601 UTC or dd-mm-YYYY."
    if not isinstance(raw, str):
        fields.fail("date_of_incident", problem)
        return None
    iso = _ISO_UTC.fullmatch(raw)
    try:
        if iso is not None:
            datetime.strptime(iso.group(1), "%Y-%m-%dT%H:%M:%S")
        elif _DATE.fullmatch(raw):
            datetime.strptime(raw, "%d-%m-%Y")
        else:
            raise ValueError(raw)
    except ValueError:
        fields.fail("date_of_incident", problem)
        return None
    return raw


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
        "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)",
        "Banjir setiap hujan deras di {street}",
        "Setiap hujan deras air menggenang setinggi lutut di {street} karena saluran air "
        "tersumbat lumpur dan sampah. Air masuk ke rumah warga. Mohon drainase segera "
        "dinormalisasi.",
    ),
    (
        "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG",
        "Jalan berlubang membahayakan pengendara di {street}",
        "Ada beberapa lubang besar di badan jalan {street} dekat simpang. Sudah ada pengendara "
        "motor yang jatuh pada malam hari. Mohon segera ditambal sebelum musim hujan.",
    ),
    (
        "LINGKUNGAN HIDUP DAN KEHUTANAN/PENGELOLAAN SAMPAH",
        "Tumpukan sampah tidak diangkut di {street}",
        "Sampah rumah tangga sudah menumpuk lebih dari seminggu di pinggir {street} dan "
        "menimbulkan bau tidak sedap. Truk pengangkut sampah tidak datang. Mohon ditindaklanjuti.",
    ),
    (
        "KETENTERAMAN, KETERTIBAN UMUM, DAN PELINDUNGAN MASYARAKAT/SAMPAH LIAR",
        "Pembuangan sampah liar di lahan kosong {street}",
        "Warga dari luar kampung membuang sampah di lahan kosong di {street} setiap malam. "
        "Tumpukannya sudah menutup separuh trotoar. Mohon dipasang larangan dan diawasi.",
    ),
    (
        "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
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
        "ENERGI DAN SUMBER DAYA ALAM/LISTRIK/PEMADAMAN LISTRIK",
        "Listrik sering padam di sekitar {street}",
        "Dalam seminggu terakhir listrik padam hampir setiap malam di sekitar {street} tanpa "
        "pemberitahuan. Peralatan elektronik warga rusak. Mohon penjelasan dan perbaikan.",
    ),
    (
        "KESEHATAN/PELAYANAN KESEHATAN",
        "Antrean puskesmas dekat {street} terlalu lama",
        "Pasien harus antre lebih dari empat jam di puskesmas dekat {street} dan petugas "
        "pendaftaran hanya satu orang. Mohon pelayanan ditingkatkan.",
    ),
    (
        "KEPENDUDUKAN/ADMINISTRASI KEPENDUDUKAN DAN PENCATATAN SIPIL/KTP (KARTU TANDA PENDUDUK)",
        "KTP elektronik belum jadi setelah tiga bulan",
        "Saya sudah melakukan perekaman KTP elektronik tiga bulan lalu di kantor kecamatan "
        "dekat {street} tetapi sampai sekarang belum dicetak. Mohon kejelasannya.",
    ),
    (
        "KETENTERAMAN, KETERTIBAN UMUM, DAN PELINDUNGAN MASYARAKAT/KETERTIBAN UMUM",
        "Pedagang kaki lima menutup trotoar {street}",
        "Trotoar di {street} penuh lapak pedagang kaki lima sehingga pejalan kaki terpaksa "
        "berjalan di badan jalan. Mohon penataan oleh Satpol PP.",
    ),
)
