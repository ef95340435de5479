"""The C allocator's settings (bridge.memory), checked in a fresh interpreter each time."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import ctypes, sys
from bridge import memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "tuned":
    assert memory.tune()
big = bytearray(8 << 20)
del big  # untuned, glibc now takes blocks up to 8 MiB from the heap
before = libc.mallinfo2().hblkhd
block = bytearray(300_000)
print(libc.mallinfo2().hblkhd - before)
"""


def mapped_after_a_large_free(mode: str) -> int:
    """Bytes mapped on their own for a 300 kB block allocated after an 8 MiB one was freed."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(
    not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="glibc ≥ 2.33 only (mallinfo2)"
)
def test_large_blocks_stay_mapped_on_their_own_after_a_larger_one_was_freed() -> None:
    assert mapped_after_a_large_free("default") == 0  # glibc's dynamic threshold moved
    assert mapped_after_a_large_free("tuned") >= 300_000  # fixed at 64 KiB: mapped, unmapped
