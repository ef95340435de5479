"""bridge.md, "Canonical statuses and how the two sides converge", as a table: every
pair of a local and a national status, and where each side goes (issue 21: the status
convergence rules tested directly, not only through HTTP)."""

from __future__ import annotations

import itertools

import pytest

from bridge.core.model import Status
from bridge.core.plan import StatusMoves, converge

S, V, P, D, R = (
    Status.SUBMITTED,
    Status.VERIFIED,
    Status.IN_PROGRESS,
    Status.DONE,
    Status.REJECTED,
)

#: (local, national, the complaint came from LAPOR's inbox) → the expected moves, written
#: out from the contract's words: each side up to the furthest of the two, never down; a
#: local done completes LAPOR (a follow-up, done template); a local rejected hands back a
#: complaint that came from LAPOR, and nothing else; done against rejected is a conflict
TABLE: list[tuple[Status, Status, bool, StatusMoves]] = [
    # the same on both sides: nothing moves (but a local done/rejected still tells LAPOR
    # only when LAPOR is not there yet)
    (S, S, False, StatusMoves(S)),
    (V, V, False, StatusMoves(V)),
    (P, P, True, StatusMoves(P)),
    (D, D, False, StatusMoves(D)),
    (R, R, True, StatusMoves(R)),
    # LAPOR ahead: the local side moves up to it
    (S, V, False, StatusMoves(V, to_local=V)),
    (S, P, False, StatusMoves(P, to_local=P)),
    (V, P, True, StatusMoves(P, to_local=P)),
    (S, D, False, StatusMoves(D, to_local=D)),
    (P, D, True, StatusMoves(D, to_local=D)),
    (S, R, False, StatusMoves(R, to_local=R)),
    (P, R, True, StatusMoves(R, to_local=R)),
    # the city ahead: nothing moves back on the local side; LAPOR moves only through what
    # an agency may do
    (V, S, False, StatusMoves(V)),
    (P, S, True, StatusMoves(P)),
    (P, V, False, StatusMoves(P)),
    (D, S, False, StatusMoves(D, complete_national=True)),
    (D, P, True, StatusMoves(D, complete_national=True)),
    (R, S, False, StatusMoves(R)),  # a complaint the bridge filed is never handed back
    (R, V, True, StatusMoves(R, reject_national=True)),  # one from LAPOR's inbox is
    (R, P, True, StatusMoves(R, reject_national=True)),
    # done against rejected: a conflict, nothing overwritten on either side
    (D, R, False, StatusMoves(D, conflict=True)),
    (D, R, True, StatusMoves(D, conflict=True)),
    (R, D, False, StatusMoves(R, conflict=True)),
    (R, D, True, StatusMoves(R, conflict=True)),
]


@pytest.mark.parametrize(
    ("local", "national", "from_lapor", "expected"),
    TABLE,
    ids=[f"{a.value}-{b.value}-{'inbox' if c else 'filed'}" for a, b, c, _ in TABLE],
)
def test_the_contracts_table(
    local: Status, national: Status, from_lapor: bool, expected: StatusMoves
) -> None:
    assert converge(local, national, national_origin=from_lapor) == expected


PAIRS = list(itertools.product(Status, Status, (False, True)))


@pytest.mark.parametrize(("local", "national", "from_lapor"), PAIRS)
def test_nothing_moves_back_and_each_side_reaches_the_furthest(
    local: Status, national: Status, from_lapor: bool
) -> None:
    moves = converge(local, national, national_origin=from_lapor)
    if {local, national} == {D, R}:
        assert moves.conflict and moves.to_local is None and moves.target == local
        assert not (moves.complete_national or moves.reject_national)
        return
    assert not moves.conflict
    assert moves.target.rank == max(local.rank, national.rank)
    if moves.to_local is not None:
        assert moves.to_local.rank > local.rank  # up, never down or sideways
    assert moves.complete_national == (local == D and national != D)
    assert moves.reject_national == (local == R and national != R and from_lapor)
    assert not (moves.complete_national and moves.reject_national)
