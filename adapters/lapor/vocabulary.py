"""LAPOR-SP4N's vocabulary in one place: its statuses (by name and by modelled code), its
catch-all topic, the follow-up template of a disposition event.

lapor.md, "Statuses, by name": the name is authoritative; the codes are modelled. The
core speaks canonical terms (:class:`bridge.core.model.Status`, topic paths); this module is
where LAPOR's own words are translated, and what the rest of the adapter reads.
"""

from __future__ import annotations

from bridge.core.model import CATCH_ALL_TOPIC, Status

#: where a complaint whose category LAPOR lacks goes (the canonical catch-all)
FALLBACK_TOPIC = CATCH_ALL_TOPIC
#: a new complaint, or one handed back: waiting for the national admin (modelled code)
WAITING_FOR_ADMIN = 10
#: the status a new complaint starts in (lapor.md, seen)
NEW_STATUS_NAME = "Belum Terverifikasi"
#: archived by the admin; the reason is in the complaint's history (modelled code)
ARCHIVED = 90
#: the follow-up template of a disposition event: history, not a follow-up (lapor.md)
DISPOSITION_TEMPLATE = "disposition"

#: lapor.md, "Statuses, by name": the name is authoritative; codes are modelled
STATUS_BY_NAME: dict[str, tuple[int | None, Status]] = {
    "belum terverifikasi": (10, Status.SUBMITTED),
    "ditunda": (20, Status.SUBMITTED),
    "terdisposisi": (30, Status.VERIFIED),
    "dalam proses": (None, Status.IN_PROGRESS),
    "ditindaklanjuti oleh instansi": (40, Status.IN_PROGRESS),
    "ditanggapi oleh pelapor": (50, Status.IN_PROGRESS),
    "selesai": (60, Status.DONE),
    "diarsipkan": (90, Status.REJECTED),
    "ditolak": (None, Status.REJECTED),
}
STATUS_BY_CODE = {
    10: Status.SUBMITTED,
    20: Status.SUBMITTED,
    30: Status.VERIFIED,
    40: Status.IN_PROGRESS,
    50: Status.IN_PROGRESS,
    60: Status.DONE,
    90: Status.REJECTED,
}
#: a complaint closed as done (modelled code)
DONE = 60
#: each modelled code's name, as people read it on lapor.go.id (for reports)
STATUS_NAMES: dict[int, str] = {
    10: "Belum Terverifikasi",
    20: "Ditunda",
    30: "Terdisposisi",
    40: "Ditindaklanjuti oleh Instansi",
    50: "Ditanggapi oleh Pelapor",
    60: "Selesai",
    90: "Diarsipkan",
}


def status_code(status: Status) -> int | None:
    """The modelled code LAPOR shows a complaint in once it reached ``status`` by the
    bridge's own doing (done: 60, archived: 90); ``None`` where LAPOR decides."""
    return {Status.DONE: DONE, Status.REJECTED: ARCHIVED}.get(status)
