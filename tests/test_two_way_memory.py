"""The two-way rules as a hypothesis state machine over in-memory sides (issue 21).

vdirsyncer's ``SyncMachine`` is the model: random changes on both sides of mapped
pairs, syncs in any order, lost answers, refusals and crashes, then, whenever hypothesis
chooses, a settling (faults off, a few syncs) after which both sides must agree. The real
:class:`bridge.sync.twoway.TwoWay` on a real SQLite store; the sides are tests/fakes_twoway.py.
tests/test_two_way_machine.py runs the same kind of history over HTTP, far fewer of them.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bridge.core.errors import Unavailable
from bridge.core.model import Status
from bridge.core.plan import followup_text
from bridge.sync.store import Store
from bridge.sync.twoway import PairReport, TwoWay
from tests.fakes import Crash
from tests.fakes_twoway import OPEN_ON_LAPOR, Clock, MemoryApp, MemoryLapor

PAIRS = {"1": 1001, "2": 1002}
LOCAL_IDS = st.sampled_from(sorted(PAIRS))
CRASH_POINTS = ["followup_intent", "followup_posted", "response_intent", "response_posted"]
FAULTS = st.lists(st.sampled_from(["ok", "ok", "lost", "down"]), max_size=3)
RANK_UP = {
    Status.SUBMITTED: [Status.VERIFIED, Status.IN_PROGRESS, Status.DONE, Status.REJECTED],
    Status.VERIFIED: [Status.IN_PROGRESS, Status.DONE, Status.REJECTED],
    Status.IN_PROGRESS: [Status.DONE, Status.REJECTED],
    Status.DONE: [],
    Status.REJECTED: [],
}


class TwoSides(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "bridge.db"
        self.clock = Clock()
        self.app = MemoryApp(self.clock)
        self.lapor = MemoryLapor(self.clock)
        self.crash_at: str | None = None
        self.said = 0
        #: follow-ups people typed on LAPOR's site (not the bridge's)
        self.typed_on_lapor: set[str] = set()
        self.store = Store(self.path)
        self.twoway = self._twoway()

    def _twoway(self) -> TwoWay:
        return TwoWay(self.store, {"app": self.app}, {"acct": self.lapor}, self._crash)  # type: ignore[dict-item]

    def _crash(self, point: str) -> None:
        if point == self.crash_at:
            self.crash_at = None
            raise Crash(point)

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    @initialize(from_national=st.lists(st.booleans(), min_size=2, max_size=2))
    def mapped(self, from_national: list[bool]) -> None:
        """Two pairs already mapped, each from the city or from LAPOR's inbox."""
        for (local_id, national_id), inbox in zip(
            sorted(PAIRS.items()), from_national, strict=True
        ):
            self.app.add(local_id)
            self.lapor.add(national_id)
            with self.store.atomic():
                self.store.insert_mapping(
                    source="app",
                    local_id=local_id,
                    national_id=national_id,
                    origin="national" if inbox else "local",
                    account="acct",
                    local_canonical="submitted",
                    national_canonical="submitted",
                    status="submitted",
                    agency="Dinas PUPR",
                )

    # --- people on both sides ---------------------------------------------------------------
    @rule(local_id=LOCAL_IDS)
    def city_responds(self, local_id: str) -> None:
        self.said += 1
        self.app.respond(local_id, f"Tanggapan dinas nomor {self.said}: petugas ke lokasi.")

    @rule(local_id=LOCAL_IDS, choice=st.integers(0, 3))
    def city_moves(self, local_id: str, choice: int) -> None:
        ahead = RANK_UP[self.app.status[local_id]]
        if ahead:
            self.app.status[local_id] = ahead[choice % len(ahead)]

    @rule(local_id=LOCAL_IDS, author=st.sampled_from(["admin", "pelapor", "instansi"]))
    def someone_writes_on_lapor(self, local_id: str, author: str) -> None:
        self.said += 1
        item = self.lapor.write(PAIRS[local_id], author, f"Catatan {author} nomor {self.said}.")
        self.typed_on_lapor.add(item.id)

    @rule(local_id=LOCAL_IDS, choice=st.integers(0, 3), reason=st.booleans(), noted=st.booleans())
    def lapor_moves(self, local_id: str, choice: int, reason: bool, noted: bool) -> None:
        """Forward only; an archive may carry a reason, which the admin may also write as a
        follow-up (as LAPOR's site does)."""
        national_id = PAIRS[local_id]
        ahead = RANK_UP[self.lapor.status[national_id]]
        if ahead:
            status = ahead[choice % len(ahead)]
            words = "Bukan kewenangan pemerintah kota." if reason else None
            if status == Status.REJECTED and words and noted:
                self.typed_on_lapor.add(self.lapor.write(national_id, "admin", words).id)
            self.lapor.move(national_id, status, words)

    # --- the bridge ---------------------------------------------------------------------------
    def _run(self, work: str, local_id: str | None) -> None:
        report = PairReport()
        try:
            if work == "local" and local_id is not None:
                record = self.app.normalize(self.app.fetch(local_id))  # type: ignore[arg-type]
                mapping = self.store.mapping("app", local_id)
                assert mapping is not None
                self.twoway.local_changed(
                    self.app,
                    self.lapor,
                    mapping,
                    record.follow_ups,
                    record.status,
                    report,  # type: ignore[arg-type]
                )
            elif work == "national" and local_id is not None:
                mapping = self.store.mapping("app", local_id)
                assert mapping is not None
                complaint = self.lapor.complaint(PAIRS[local_id])
                self.twoway.national_changed(mapping, complaint, report)
            else:
                self.twoway.flush_to_national(self.app, self.lapor, None, report)  # type: ignore[arg-type]
                self.twoway.flush_to_local(self.app, None, report)  # type: ignore[arg-type]
        except Unavailable:
            pass  # the pass fails; the next one goes on
        except Crash:
            self.store.close()  # the process died: what it held is gone
            self.store = Store(self.path)
            self.twoway = self._twoway()

    @rule(local_id=LOCAL_IDS, app_faults=FAULTS, lapor_faults=FAULTS)
    def sync_local(self, local_id: str, app_faults: list[str], lapor_faults: list[str]) -> None:
        self.app.faults, self.lapor.faults = list(app_faults), list(lapor_faults)
        self._run("local", local_id)

    @rule(local_id=LOCAL_IDS, app_faults=FAULTS, lapor_faults=FAULTS)
    def sync_national(self, local_id: str, app_faults: list[str], lapor_faults: list[str]) -> None:
        self.app.faults, self.lapor.faults = list(app_faults), list(lapor_faults)
        self._run("national", local_id)

    @rule()
    def flush(self) -> None:
        self._run("flush", None)

    @rule(point=st.sampled_from(CRASH_POINTS))
    def crash_soon(self, point: str) -> None:
        self.crash_at = point

    # --- what must hold -----------------------------------------------------------------------
    def _city_words(self, local_id: str) -> list[str]:
        return [
            followup_text(r.content, r.author)
            for r in self.app.responses[local_id]
            if r.ref is None
        ]

    @invariant()
    def nothing_doubled(self) -> None:
        for local_id, national_id in PAIRS.items():
            on_lapor = Counter(
                f.content for f in self.lapor.items[national_id] if f.id not in self.typed_on_lapor
            )
            assert all(n == 1 for n in on_lapor.values()), on_lapor
            refs = Counter(r.ref for r in self.app.responses[local_id] if r.ref)
            assert all(n == 1 for n in refs.values()), refs
            bridge_posts = {f.id for f in self.lapor.items[national_id]} - self.typed_on_lapor
            came_back = {f"lb-f{i}" for i in bridge_posts} & set(refs)
            assert not came_back, f"the bridge's own follow-ups reached the app: {came_back}"

    @precondition(lambda self: self.store is not None)
    @rule()
    def settle_and_agree(self) -> None:
        """Faults off, a few rounds of syncs: both sides agree."""
        self.crash_at = None
        for _ in range(3):
            for local_id in PAIRS:
                self.app.faults, self.lapor.faults = [], []
                self._run("national", local_id)
                self._run("local", local_id)
        for local_id, national_id in PAIRS.items():
            self._agree(local_id, national_id)

    def _agree(self, local_id: str, national_id: int) -> None:
        local, national = self.app.status[local_id], self.lapor.status[national_id]
        mapping = self.store.mapping("app", local_id)
        assert mapping is not None
        on_lapor = Counter(f.content for f in self.lapor.items[national_id])
        # every response of the city is on LAPOR once, when LAPOR takes follow-ups
        if national in OPEN_ON_LAPOR:
            for words in self._city_words(local_id):
                assert on_lapor[words] == 1, (words, on_lapor)
            # and nothing is left to send (a hand-back included: made once, and an admin
            # who disposes the complaint to the agency again is not answered with another)
            assert self.store.pending_followups("to_national", "app", local_id) == []
        # everything people wrote on LAPOR is in the app, once
        refs = Counter(r.ref for r in self.app.responses[local_id] if r.ref)
        for item in self.lapor.items[national_id]:
            if item.id in self.typed_on_lapor:
                assert refs[f"lb-f{item.id}"] == 1, (item, refs)
        reason = self.lapor.archive_reason.get(national_id)
        if national == Status.REJECTED and reason:
            texts = [r.content for r in self.app.responses[local_id]]
            assert texts.count(reason) == 1, texts
        # statuses: the app up to LAPOR, done against rejected a conflict
        if {local, national} == {Status.DONE, Status.REJECTED}:
            assert mapping.conflict == 1
        else:
            assert mapping.conflict == 0
            assert local.rank >= national.rank, (local, national)
            if local == Status.DONE:  # LAPOR was told, unless it never took follow-ups
                assert national not in OPEN_ON_LAPOR, (local, national)
        assert mapping.local_canonical == local.value
        assert mapping.national_canonical == national.value
        assert self.store.pending_followups("to_local", "app", local_id) == []


TwoSides.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_two_sides_agree = TwoSides.TestCase
