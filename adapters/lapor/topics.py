"""LAPOR-SP4N's real topic tree (2025), with ids of the sandbox's own.

Source: ``topics_2025.json`` beside this module, an unchanged copy of
``/work/shared/real/lapor-topics-2025.json``: the category names shown on
lapor.go.id in 2025 (38 topics, 929 names), scraped from the site's category
pages and taken from the outputs of cell 6 of the notebook
``classificationgemastik.ipynb`` in the public repository
``masp222/SP4NLAPOR-Category-Classification-`` (the file's ``source`` key).
Names only: the ids here are the sandbox's, not LAPOR's.

The file lists each topic's names flat, in the page's order, without saying
which are subtopics (level 2) and which sub-subtopics (level 3). The levels
are rebuilt by this deterministic heuristic, per topic:

1. **Anchors.** The site gives a subtopic with children a child named
   ``LAINNYA TERKAIT <subtopic>`` (also misspelt ``LAIINYA``). A name ``X``
   followed later in its topic by ``LAINNYA TERKAIT X`` is a subtopic with
   children; the names after ``X`` up to its first anchor are its *core*
   children. ``LAINNYA TERKAIT <topic>`` is a plain subtopic.
2. **No fourth level.** Each core must be in ascending order (the page sorts
   siblings) and hold no other anchored subtopic nor the topic's own anchor,
   and the anchored subtopics must follow one another in ascending order.
   Otherwise a subtopic nests in another: the topic has a fourth level (seen
   in ``CORONA VIRUS``, ``EKONOMI DAN KEUANGAN``, ``KESEHATAN``,
   ``KETENTERAMAN, …``, ``KETENAGAKERJAAN``, ``PERHUBUNGAN``, ...), no
   three-level split can be derived, and **all of that topic's names stay at
   level 2**.
3. **Children after the anchor.** The names after the anchor that keep the
   ascending order, up to the next anchored subtopic or the topic's own
   anchor, also belong to the subtopic when the topic is laid out *leaves
   first*: its names before the first anchored subtopic are in order and
   hold the topic's own anchor, or the first anchored subtopic breaks their
   order (``PEKERJAAN UMUM DAN PENATAAN RUANG``, ``ENERGI DAN SUMBER DAYA
   ALAM``). In any other layout (subtopics with and without children sorted
   together) they belong to it only when the run ends by breaking the order,
   since a later sibling of the subtopic cannot sort before them; otherwise
   they stay at level 2 (``LONGSOR`` after ``PENANGGULANGAN BENCANA``).
4. Everything else stays at level 2. A subtopic with children but no anchor
   is not recognised: it and its children sit at level 2, side by side
   (``PERUMAHAN BERSUBSIDI DAN RUMAH SUSUN``, ``SUMBER DAYA AIR``).

Seven topics get three levels this way (``PEKERJAAN UMUM DAN PENATAAN
RUANG``, ``LINGKUNGAN HIDUP DAN KEHUTANAN``, ``PENDIDIKAN DAN KEBUDAYAAN``,
``SOSIAL DAN KESEJAHTERAAN``, ``ENERGI DAN SUMBER DAYA ALAM``,
``KEPENDUDUKAN``, ``TEKNOLOGI INFORMASI DAN KOMUNIKASI``); the others are
flat, nine of them (``TOPIK LAINNYA`` among them) without any name.

Repeated names are kept as distinct nodes (each row of the page is one), so
``LAINNYA`` appears four times; in a topic kept flat, same-named nodes share
their parent, and a path naming them resolves to the first, in page order.

Ids: topic ``t`` (1-based, in the file's order) is ``t``; its ``s``-th
level-2 name is ``t * 1000 + s``; the ``c``-th child of that is
``(t * 1000 + s) * 100 + c``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "TOPICS_FILE",
    "Category",
    "CategoryTree",
    "build_rows",
    "category_tree",
    "load_topics",
    "normalise",
    "split_levels",
]

TOPICS_FILE = Path(__file__).with_name("topics_2025.json")

_ANCHOR = re.compile(r"LAI+N+YA TERKAIT (.+)")


class Category(NamedTuple):
    """One row of ``GET /masters/categories``."""

    id: int
    parent_id: int | None
    name: str


def normalise(text: str) -> str:
    """NFKC, whitespace collapsed to single spaces, trimmed, upper case."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).upper()


def split_levels(topic: str, names: list[str]) -> list[int | None]:
    """For each name, the index of its level-2 parent, or None when it is level 2.

    The heuristic of the module docstring; a topic whose split cannot be
    derived gets all None.
    """
    keys = [normalise(name) for name in names]
    flat: list[int | None] = [None] * len(keys)
    topic_key = normalise(topic)
    anchor_of: dict[int, int] = {}  # subtopic index -> index of its first anchor
    topic_anchors: set[int] = set()
    for k, key in enumerate(keys):
        match = _ANCHOR.fullmatch(key)
        if match is None:
            continue
        target = match.group(1)
        if target == topic_key:
            topic_anchors.add(k)
            continue
        earlier = [i for i in range(k) if keys[i] == target]
        if earlier:
            anchor_of.setdefault(earlier[-1], k)
    if not anchor_of:
        return flat
    parents = sorted(anchor_of)

    def ascending(start: int, stop: int) -> bool:
        return all(keys[j] >= keys[j - 1] for j in range(start + 1, stop))

    for p in parents:
        core = range(p + 1, anchor_of[p] + 1)
        if any(j in anchor_of or j in topic_anchors for j in core):
            return flat
        if not ascending(core.start, core.stop):
            return flat
    if any(keys[b] < keys[a] for a, b in pairwise(parents)):
        return flat  # subtopics out of order: one is nested in another
    first = parents[0]
    leaves_first = (
        first > 0
        and ascending(0, first)
        and all(k < first for k in topic_anchors)
        and (bool(topic_anchors) or keys[first] < keys[first - 1])
    )
    levels = list(flat)
    for n, p in enumerate(parents):
        stop = parents[n + 1] if n + 1 < len(parents) else len(keys)
        end = anchor_of[p] + 1
        while end < stop and end not in topic_anchors and keys[end] >= keys[end - 1]:
            end += 1
        broke_order = end < len(keys) and keys[end] < keys[end - 1]
        if not (leaves_first or broke_order):
            end = anchor_of[p] + 1
        for j in range(p + 1, end):
            levels[j] = p
    return levels


class CategoryTree:
    """The topic tree with resolution of ``TOPIC[/SUB[/SUBSUB]]`` paths."""

    def __init__(self, rows: tuple[Category, ...]) -> None:
        self.rows = rows
        self._by_id = {row.id: row for row in rows}
        self._children: dict[int | None, list[Category]] = {}
        for row in rows:
            self._children.setdefault(row.parent_id, []).append(row)

    def __contains__(self, id: object) -> bool:
        return id in self._by_id

    def children(self, parent_id: int | None) -> list[Category]:
        return list(self._children.get(parent_id, ()))

    def resolve(self, path: str) -> int:
        """The id of a whole path; a ``/`` may also be part of a name.

        Compared after :func:`normalise`. Every way of splitting the path on
        its slashes is tried by walking the tree; the first match in page
        order wins. KeyError when none matches.
        """
        found = self._walk(normalise(path), None)
        if found is None:
            raise KeyError(f"unknown category {path!r}")
        return found

    def _walk(self, rest: str, parent_id: int | None) -> int | None:
        for row in self._children.get(parent_id, ()):
            name = normalise(row.name)
            if rest == name:
                return row.id
            if rest.startswith(name + "/"):
                found = self._walk(rest[len(name) + 1 :], row.id)
                if found is not None:
                    return found
        return None

    def path(self, id: int) -> str:
        """``TOPIC/SUB/SUBSUB`` of an id (KeyError when unknown)."""
        try:
            row = self._by_id[id]
        except KeyError:
            raise KeyError(f"unknown category {id}") from None
        names = [row.name]
        while row.parent_id is not None:
            row = self._by_id[row.parent_id]
            names.append(row.name)
        return "/".join(reversed(names))


def build_rows(tree: dict[str, list[str]]) -> tuple[Category, ...]:
    """Rows (topic, then its level-2 names each followed by its children) with ids."""
    rows: list[Category] = []
    for t, (topic, names) in enumerate(tree.items(), start=1):
        rows.append(Category(t, None, normalise(topic)))
        levels = split_levels(topic, names)
        ids: dict[int, int] = {}
        seconds = 0
        for i, parent in enumerate(levels):
            if parent is None:
                seconds += 1
                ids[i] = t * 1000 + seconds
        if seconds >= 1000:
            raise ValueError(f"topic {topic!r} has too many names for the id scheme")
        counts: dict[int, int] = {}
        for i, parent in enumerate(levels):
            if parent is None:
                rows.append(Category(ids[i], t, normalise(names[i])))
                continue
            counts[parent] = counts.get(parent, 0) + 1
            if counts[parent] >= 100:
                raise ValueError(f"subtopic {names[parent]!r} has too many children")
            rows.append(
                Category(ids[parent] * 100 + counts[parent], ids[parent], normalise(names[i]))
            )
    return _ordered(rows)


def _ordered(rows: list[Category]) -> tuple[Category, ...]:
    """Pre-order: each row followed by its children, siblings in page order."""
    children: dict[int | None, list[Category]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    out: list[Category] = []

    def visit(parent_id: int | None) -> None:
        for row in children.get(parent_id, ()):
            out.append(row)
            visit(row.id)

    visit(None)
    return tuple(out)


def load_topics(path: Path = TOPICS_FILE) -> dict[str, list[str]]:
    """The file's ``tree``: topic -> its names, flat, in the page's order."""
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    tree = data["tree"]
    if not isinstance(tree, dict):
        raise ValueError(f"{path}: 'tree' must be an object")
    return {str(topic): [str(name) for name in names] for topic, names in tree.items()}


@cache
def category_tree() -> CategoryTree:
    """The 2025 tree, built once."""
    return CategoryTree(build_rows(load_topics()))
