"""The two-way planner (bridge/core/plan.py) as tables: what one side's change asks of the
other, decided without a store or a wire (issue 21). bridge/sync/twoway.py performs it; the
convergence rules themselves are tests/test_converge_table.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.core.model import FollowUp, Status
from bridge.core.plan import (
    DEFAULT_REJECT_REASON,
    NATIONAL_AUTHORS,
    Entry,
    Pair,
    Said,
    follow_ups_to_copy,
    is_stale,
    needs_city_words,
    plan_local_change,
    plan_national_change,
    restate,
)

T = datetime(2026, 3, 1, 8, tzinfo=UTC)
PREFIX = "lb-"
S, V, P, D, R = (Status.SUBMITTED, Status.VERIFIED, Status.IN_PROGRESS, Status.DONE,
                 Status.REJECTED)  # fmt: skip


def pair(local: Status | None = S, national: Status | None = S, **fields: object) -> Pair:
    base: dict[str, object] = {
        "source": "tanjak",
        "local_id": "7",
        "national_id": 1001,
        "from_national": False,
        "local_canonical": local,
        "national_canonical": national,
        "agency": "Dinas PUPR",
    }
    base.update(fields)
    return Pair(**base)  # type: ignore[arg-type]


def said(id: str, content: str, minutes: int = 0, author: str = "Petugas", ref: str | None = None
         ) -> FollowUp:  # fmt: skip
    return FollowUp(
        id=id, author=author, content=content, at=T + timedelta(minutes=minutes), ref=ref
    )


# --- the city's side changed ----------------------------------------------------------------


def test_nothing_new_plans_nothing() -> None:
    assert plan_local_change(pair(), (), set(), S, PREFIX) is None
    assert plan_local_change(pair(P, P), (), set(), P, PREFIX) is None


def test_a_status_never_recorded_is_recorded() -> None:
    change = plan_local_change(pair(local=None), (), set(), S, PREFIX)
    assert change is not None and change.entries == () and change.status.local == S


def test_a_status_the_city_moved_is_recorded_without_a_word_to_lapor() -> None:
    change = plan_local_change(pair(S, S), (), set(), P, PREFIX)
    assert change is not None
    assert change.entries == ()
    assert (change.status.local, change.status.target, change.status.conflict) == (P, P, False)


def test_new_responses_go_to_lapor_oldest_first_once() -> None:
    responses = (
        said("r2", "Petugas sudah meninjau lokasi hari ini.", minutes=5),
        said("r1", "Laporan diterima, akan ditindaklanjuti.", minutes=1),
        said("r0", "Sudah dikirim sebelumnya ke LAPOR.", minutes=0),
        said("x", "Balasan LAPOR yang disalin jembatan.", ref="lb-f55"),
        said("blank", "   "),
    )
    change = plan_local_change(pair(), responses, {"r0"}, S, PREFIX)
    assert change is not None
    assert [e.origin_id for e in change.entries] == ["r1", "r2"]
    assert all(e.kind == "followup" and e.author == "Petugas" for e in change.entries)
    assert change.said == (Said("r1", "app", T + timedelta(minutes=1)),
                           Said("r2", "app", T + timedelta(minutes=5)))  # fmt: skip


def test_a_short_response_is_completed_with_its_author() -> None:
    change = plan_local_change(pair(), (said("r", "Oke"),), set(), S, PREFIX)
    assert change is not None
    assert change.entries[0].content == "Oke (Petugas)"


def test_done_in_the_app_completes_lapor_in_the_agency_name() -> None:
    change = plan_local_change(pair(P, P), (), set(), D, PREFIX)
    assert change is not None
    assert change.entries == (
        Entry(
            "status:done",
            "complete",
            "Pengaduan telah selesai ditindaklanjuti oleh Dinas PUPR.",
        ),
    )
    unnamed = plan_local_change(pair(P, P, agency=None), (), set(), D, PREFIX)
    assert unnamed is not None and "oleh instansi." in unnamed.entries[0].content


def test_done_on_both_sides_says_nothing_more() -> None:
    assert plan_local_change(pair(D, D), (), set(), D, PREFIX) is None


@pytest.mark.parametrize(
    ("from_national", "responses", "reason"),
    [
        (True, (), DEFAULT_REJECT_REASON),
        (True, (said("a", "Bukan wewenang kami, silakan ke provinsi.", 1),
                said("b", "Lokasi di luar wilayah kota.", 2)), "Lokasi di luar wilayah kota."),
        (False, (), None),  # a complaint the bridge filed is never handed back
    ],
)  # fmt: skip
def test_rejected_in_the_app_hands_back_only_what_came_from_lapor(
    from_national: bool, responses: tuple[FollowUp, ...], reason: str | None
) -> None:
    change = plan_local_change(pair(V, V, from_national=from_national), responses, set(), R,
                               PREFIX)  # fmt: skip
    assert change is not None
    rejects = [e for e in change.entries if e.kind == "reject"]
    assert [e.content for e in rejects] == ([reason] if reason else [])
    assert [e.origin_id for e in rejects] == (["status:rejected"] if reason else [])


@pytest.mark.parametrize(
    ("on_record", "kept_local", "conflict", "new"),
    [(False, False, True, True), (True, False, True, False), (False, True, False, False)],
)
def test_done_against_rejected_is_a_conflict_reported_once(
    on_record: bool, kept_local: bool, conflict: bool, new: bool
) -> None:
    p = pair(D, R, conflict=on_record, kept_local=kept_local)
    change = plan_local_change(p, (), set(), D, PREFIX)
    assert change is not None
    assert (change.status.conflict, change.status.new_conflict) == (conflict, new)
    assert change.entries == ()  # nothing is overwritten on either side


# --- LAPOR's side changed -------------------------------------------------------------------


def lapor(id: str, author: str, content: str, minutes: int = 0) -> FollowUp:
    return FollowUp(id=id, author=author, content=content, at=T + timedelta(minutes=minutes))


def test_lapor_follow_ups_reach_the_app_with_their_authors_and_references() -> None:
    fresh = [lapor("9", "admin", "Laporan diteruskan ke instansi."),
             lapor("10", "instansi", "Sedang kami tangani.", 3)]  # fmt: skip
    change = plan_national_change(pair(), V, 1001, None, fresh, set(), PREFIX)
    assert change.entries == (
        Entry("9", "response", "Laporan diteruskan ke instansi.", NATIONAL_AUTHORS["admin"],
              "lb-f9"),
        Entry("10", "response", "Sedang kami tangani.", NATIONAL_AUTHORS["instansi"], "lb-f10"),
    )  # fmt: skip
    assert change.said == (Said("10", "lapor", T + timedelta(minutes=3)),)  # the agency only
    assert (change.to_local, change.national_moved) == (V, True)


@pytest.mark.parametrize(
    ("fresh", "copied", "archived"),
    [
        ([], set(), True),
        ([], {"Bukan kewenangan Pemkot."}, False),  # copied before
        ([lapor("4", "admin", " Bukan kewenangan Pemkot. ")], set(), False),  # said as a note
    ],
)
def test_an_archive_reason_reaches_the_app_once(
    fresh: list[FollowUp], copied: set[str], archived: bool
) -> None:
    change = plan_national_change(pair(), R, 1001, "Bukan kewenangan Pemkot.", fresh, copied,
                                  PREFIX)  # fmt: skip
    archive = [e for e in change.entries if e.origin_id == "archive:1001"]
    assert bool(archive) == archived
    if archive:
        assert archive[0].ref == "lb-a1001" and archive[0].author == NATIONAL_AUTHORS["admin"]
    assert change.to_local == R


def test_no_archive_entry_without_a_rejection() -> None:
    change = plan_national_change(pair(), P, 1001, "alasan lama", [], set(), PREFIX)
    assert change.entries == ()


@pytest.mark.parametrize(
    ("local", "national", "to_local", "conflict"),
    [(S, V, V, False), (P, V, None, False), (D, R, None, True), (R, D, None, True), (P, D, D, False)],
)  # fmt: skip
def test_the_app_moves_up_to_lapor_never_down_nor_over_a_conflict(
    local: Status, national: Status, to_local: Status | None, conflict: bool
) -> None:
    change = plan_national_change(pair(local, S), national, 1001, None, [], set(), PREFIX)
    assert change.to_local == to_local
    assert change.status.local == (to_local or local)
    assert change.status.conflict == conflict


def test_an_unchanged_lapor_status_is_not_news() -> None:
    assert not plan_national_change(pair(V, V), V, 1001, None, [], set(), PREFIX).national_moved
    assert plan_national_change(pair(V, None), S, 1001, None, [], set(), PREFIX).national_moved


def test_an_older_view_is_stale_an_equal_one_is_not() -> None:
    seen = pair(national_seen_at=T)
    assert is_stale(seen, T - timedelta(seconds=1))
    assert not is_stale(seen, T)  # one-second resolution: the same time may hide a change
    assert not is_stale(pair(), T - timedelta(days=999))  # never read


def test_agency_words_are_needed_only_for_an_unknown_agency_follow_up() -> None:
    items = [lapor("1", "admin", "x" * 12), lapor("2", "instansi", "y" * 12)]
    assert needs_city_words(items, set(), set())
    assert not needs_city_words(items, {"2"}, set())  # copied already
    assert not needs_city_words(items, set(), {"2"})  # the bridge's own post
    # and without the city's words an agency follow-up waits; with them it is told apart
    assert [f.id for f in follow_ups_to_copy(items, set(), set(), None)] == ["1"]
    assert [f.id for f in follow_ups_to_copy(items, set(), set(), {"y" * 12})] == ["1"]
    assert [f.id for f in follow_ups_to_copy(items, set(), set(), set())] == ["1", "2"]


# --- the other side recorded meanwhile (bridge/sync/twoway.py, the two passes' workers) ------


def test_the_city_closing_while_lapors_rejection_is_written_is_a_conflict() -> None:
    then = pair(P, P)
    planned = plan_national_change(then, R, 1001, None, [], set(), PREFIX).status
    assert (planned.local, planned.conflict) == (R, False)  # blind to the city
    note = restate(planned, then, pair(D, P), side="national")  # the source's pass: done
    assert (note.local, note.national, note.conflict, note.new_conflict) == (D, R, True, True)
    assert note.target == D


def test_lapor_rejecting_while_the_citys_close_is_planned_is_a_conflict() -> None:
    then = pair(P, P)
    change = plan_local_change(then, (), set(), D, PREFIX)
    assert change is not None and not change.status.conflict
    note = restate(change.status, then, pair(P, R), side="local")  # the account's: rejected
    assert (note.local, note.national, note.conflict, note.new_conflict) == (D, R, True, True)


@pytest.mark.parametrize("side", ["local", "national"])
def test_nothing_recorded_meanwhile_changes_nothing(side: str) -> None:
    then = pair(V, P)
    if side == "local":
        change = plan_local_change(then, (), set(), D, PREFIX)
        assert change is not None
        planned = change.status
    else:
        planned = plan_national_change(then, D, 1001, None, [], set(), PREFIX).status
    assert restate(planned, then, then, side=side) == planned  # type: ignore[arg-type]


def test_a_conflict_on_record_meanwhile_is_not_reported_again() -> None:
    then = pair(P, P)
    planned = plan_national_change(then, R, 1001, None, [], set(), PREFIX).status
    note = restate(planned, then, pair(D, P, conflict=True), side="national")
    assert (note.conflict, note.new_conflict) == (True, False)


def test_the_same_word_from_the_city_meanwhile_is_no_conflict() -> None:
    """The account's pass writes rejected, and the source's pass records the app showing
    rejected (the bridge's own write, read back): the two agree."""
    then = pair(P, P)
    planned = plan_national_change(then, R, 1001, None, [], set(), PREFIX).status
    note = restate(planned, then, pair(R, P), side="national")
    assert (note.local, note.national, note.conflict) == (R, R, False)
