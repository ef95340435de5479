"""The C allocator's settings for a long-running process that moves large texts.

glibc's ``malloc`` keeps freed memory for reuse. Two of its defaults make a
drain of long complaints grow the resident set with the backlog instead of
reusing what it has:

* its mmap threshold is dynamic: once a large block (an answer's body, a page
  of 16 kB texts) is freed, blocks up to that size come from the heap from
  then on, where what is freed between long-lived blocks stays resident;
* every thread that allocates gets an arena of its own (up to 8 per core),
  and memory freed in one arena never serves another: the daemon runs one
  thread per source.

Fixed at 64 KiB, blocks that large are mapped and unmapped on their own; two
arenas are plenty for threads that take turns under the interpreter's lock.
What is still freed inside the heap after a busy pass stays resident until
reused: :func:`trim` (``malloc_trim``) hands it back, so the resident set
after a drain falls back instead of keeping each drain's high-water mark.
Measured with the chaos suite's outage (README, Performance). The same
settings as ``MALLOC_MMAP_THRESHOLD_=65536 MALLOC_ARENA_MAX=2`` in the
environment, applied however the process is started. Another C library
(musl) has no such knobs; nothing is changed there.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 64 * 1024
ARENA_MAX = 2


def tune() -> bool:
    """Apply the settings; ``True`` when the C library took them (glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    took = [mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD), mallopt(M_ARENA_MAX, ARENA_MAX)]
    return all(took)


def trim() -> bool:
    """Return the heap's free pages to the system; ``True`` when some were (glibc)."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return bool(malloc_trim(0))
