"""A hypothesis state machine: random actions on both sides, faults and crashes, then convergence.

Each run drives the real Tanjak and LAPOR sandboxes over HTTP and the real
engine. At the end, faults off and a few clean passes, it checks: one
national complaint per local record and one local record per inbox
complaint; no follow-up or response carried twice; statuses converged.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from adapters.local.tanjak.normalize import STATUSES
from bridge.core.model import Status
from bridge.sync.engine import CrashPoint
from tests.harness import World, operator_resolves

INSTITUTION = "Pemerintah Kota Tanjungpinang"
TEXTS = [
    "Sampah menumpuk di depan pasar sejak tiga hari lalu.",
    "Lampu jalan mati di Jl. Pramuka, gelap sekali malam hari.",
    "Drainase tersumbat, air menggenang setinggi lutut.",
    "Jalan berlubang besar di depan sekolah dasar.",
]
LAPOR_STATUS = {10: Status.SUBMITTED, 20: Status.SUBMITTED, 30: Status.VERIFIED,
                40: Status.IN_PROGRESS, 50: Status.IN_PROGRESS, 60: Status.DONE,
                90: Status.REJECTED}  # fmt: skip


class BothSides(RuleBasedStateMachine):
    #: lapor.md's capabilities the run's LAPOR has (none: the evidenced profile)
    capabilities: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.world = World(Path(self.tmp.name), capabilities=self.capabilities)
        self.responses = 0

    def teardown(self) -> None:
        self.world.stop()
        self.tmp.cleanup()

    @initialize()
    def start(self) -> None:
        self.world.tanjak.add_aduan(isi=TEXTS[0], kategori="persampahan")

    def _aduan_ids(self) -> list[int]:
        return [a["id"] for a in self.world.tanjak.all_aduan()]

    def _national_ids(self) -> list[int]:
        return [c["id"] for c in self.world.lapor.complaints()]

    @rule(text=st.sampled_from(TEXTS))
    def citizen_files_in_tanjak(self, text: str) -> None:
        self.world.tanjak.add_aduan(isi=text, kategori="lainnya")

    @rule(text=st.sampled_from(TEXTS))
    def citizen_files_on_lapor(self, text: str) -> None:
        self.world.lapor.file_complaint(
            "Pengaduan langsung ke LAPOR", text, "TOPIK LAINNYA", INSTITUTION
        )

    @rule(pick=st.integers(0, 50), n=st.integers(0, 10_000))
    def city_responds(self, pick: int, n: int) -> None:
        ids = self._aduan_ids()
        # each response says something new (the check below counts words): two identical
        # responses of the city would rightly make two follow-ups
        self.responses += 1
        text = f"Tanggapan dinas nomor {n}, ke-{self.responses}."
        self.world.tanjak.respond(ids[pick % len(ids)], "DLH", text)

    @rule(pick=st.integers(0, 50), status=st.sampled_from(["diproses", "selesai", "ditolak"]))
    def city_moves_status(self, pick: int, status: str) -> None:
        ids = self._aduan_ids()
        aduan = self.world.tanjak.aduan(ids[pick % len(ids)])
        if STATUSES[aduan["status"]].terminal:
            return
        if STATUSES[status].rank >= STATUSES[aduan["status"]].rank:
            self.world.tanjak.set_status(aduan["id"], status)

    @rule(pick=st.integers(0, 50))
    def admin_verifies(self, pick: int) -> None:
        ids = self._national_ids()
        if ids:
            with contextlib.suppress(ValueError):
                self.world.lapor.verify(ids[pick % len(ids)], INSTITUTION)

    @rule(pick=st.integers(0, 50), n=st.integers(0, 10_000))
    def admin_or_reporter_writes(self, pick: int, n: int) -> None:
        ids = self._national_ids()
        if not ids:
            return
        national_id = ids[pick % len(ids)]
        with contextlib.suppress(ValueError):
            if n % 2:
                self.world.lapor.admin_followup(national_id, f"Catatan admin nomor {n}.")
            else:
                self.world.lapor.reporter_followup(national_id, f"Balasan pelapor nomor {n}.")

    @rule(pick=st.integers(0, 50))
    def admin_archives(self, pick: int) -> None:
        ids = self._national_ids()
        if ids:
            with contextlib.suppress(ValueError):
                self.world.lapor.archive(ids[pick % len(ids)], "Diarsipkan: laporan tidak valid.")

    @rule(
        fault=st.sampled_from(["drop_after_write", "503", "html502", "429"]),
        where=st.sampled_from([r"/complaints/complaint$", r"/followup/add$", r"/complaints/inbox"]),
        crash=st.sampled_from([None, "intent_committed", "create_answered", "followup_posted",
                               "response_intent", "import_intent"]),
    )  # fmt: skip
    def sync_with_trouble(self, fault: str, where: str, crash: str | None) -> None:
        self.world.lapor.faults.inject(fault, path=where, retry_after=0)
        self.world.tanjak.faults.inject("drop_after_write", method="POST", path=r"/tanggapan$")

        def hook(point: str) -> None:
            if point == crash:
                raise CrashPoint(point)

        with contextlib.suppress(CrashPoint):
            self.world.sync(crash_hook=hook)
        self.world.lapor.faults.clear()
        self.world.tanjak.faults.clear()

    @rule()
    def sync(self) -> None:
        self.world.sync()

    @invariant()
    def never_two_national_complaints_for_one_record(self) -> None:
        tags = Counter(
            t for c in self.world.lapor.complaints() for t in c["tags"] if t.startswith("ext-")
        )
        assert all(n == 1 for n in tags.values()), tags

    def check_converged(self) -> None:
        world = self.world
        for _ in range(2):
            report = world.sync()
        # without tag search a lost create with nothing to bound a scan waits for the operator
        operator_resolves(world.lapor, world.settings.bridge.database)
        for _ in range(3):
            report = world.sync()
        assert report.ok, report
        by_tag = {t: c for c in world.lapor.complaints() for t in c["tags"] if t.startswith("ext-")}
        store = world.store()
        try:
            for aduan in world.tanjak.all_aduan():
                mapping = store.mapping("tanjak", str(aduan["id"]))
                assert mapping is not None, aduan["id"]
                national = world.lapor.complaint(mapping.national_id)
                if mapping.origin == "local":
                    assert by_tag[f"ext-tanjak-{aduan['id']}"]["id"] == national["id"]
                local = STATUSES[aduan["status"]]
                remote = LAPOR_STATUS[national["status_code"]]
                if not mapping.conflict:
                    assert local.rank >= remote.rank, (aduan["id"], local, remote)
                # no response copied twice into Tanjak
                refs = [t["ref"] for t in aduan["tanggapan"] if t["ref"]]
                assert len(refs) == len(set(refs)), refs
                # no city response posted twice on LAPOR, and nothing echoed
                followups = world.lapor.followups(national["id"], disposition_events=False)
                ours = [f["institution_from_name"] == INSTITUTION for f in followups]
                contents = [f["content"] for f, own in zip(followups, ours, strict=True) if own]
                assert len(contents) == len(set(contents)), contents
                theirs = {f["content"] for f, own in zip(followups, ours, strict=True) if not own}
                assert not theirs & set(contents), theirs & set(contents)
                copied = {t["isi"] for t in aduan["tanggapan"] if t["ref"]}
                city = {t["isi"] for t in aduan["tanggapan"] if not t["ref"]}
                assert not copied & city, copied & city
            imported = Counter(a["lapor_id"] for a in world.tanjak.all_aduan() if a["lapor_id"])
            assert all(n == 1 for n in imported.values()), imported
        finally:
            store.close()


@pytest.mark.parametrize(
    "capabilities", [(), ("tag_search", "inbox")], ids=["evidenced", "extended"]
)
def test_both_sides_converge(capabilities: tuple[str, ...]) -> None:
    class Checked(BothSides):
        def teardown(self) -> None:
            try:
                self.check_converged()
            finally:
                super().teardown()

    settings(
        max_examples=12,
        stateful_step_count=14,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )(Checked)
    Checked.capabilities = capabilities
    Checked.TestCase().runTest()
