"""The tags that identify a bridge-created complaint on LAPOR (bridge.md)."""

from __future__ import annotations

import hashlib
import re

_OUTSIDE = re.compile(r"[^a-z0-9]")
SOURCE_NAME = re.compile(r"^[a-z0-9-]{1,24}$")
MAX_TAG = 64
#: what starts the tag (and the content's marker) of every complaint the bridge created
EXT_PREFIX = "ext-"


def ext_tag(source: str, local_id: str) -> str:
    """``ext-<source>-<id>``, the id folded to ``[a-z0-9-]``; hashed when too long."""
    tag = f"{EXT_PREFIX}{source}-{_OUTSIDE.sub('-', local_id.lower())}"
    if len(tag) <= MAX_TAG:
        return tag
    digest = hashlib.sha256(local_id.encode("utf-8")).hexdigest()[:16]
    return f"{EXT_PREFIX}{source}-{digest}"


def tags_for(source: str, local_id: str) -> tuple[str, str]:
    return source, ext_tag(source, local_id)


def tags_raw(tags: tuple[str, ...]) -> str:
    return " ".join(f"#{t}" for t in tags)
