"""The C allocator's settings (bridge.runtime.memory), checked in a fresh interpreter each time."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import ctypes, sys
from bridge.runtime import memory
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


TRIM_PROBE = """
import sys
from bridge.runtime import memory
def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096

blocks = [bytearray(3000) for _ in range(20_000)]  # 60 MB from the heap (under 64 KiB)
pinned = bytearray(3000)  # allocated last: the heap's top cannot shrink past it
del blocks  # 60 MB freed inside the heap
freed = rss()
if sys.argv[1] == "trim":
    assert memory.trim()
print(freed - rss())
"""


def returned_by(mode: str) -> int:
    """Bytes of resident set a process gives back after freeing 60 MB inside its heap."""
    out = subprocess.run(
        [sys.executable, "-c", TRIM_PROBE, mode], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


@pytest.mark.skipif(
    not hasattr(ctypes.CDLL(None), "malloc_trim"), reason="glibc only (malloc_trim)"
)
def test_trim_gives_memory_freed_inside_the_heap_back() -> None:
    assert returned_by("keep") < 10 << 20  # freed, and still resident
    assert returned_by("trim") > 40 << 20
