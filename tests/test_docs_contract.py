"""Every contract the code cites is in ``docs/contract/``, and each copy is the shared one.

The code cites contracts by file name in comments, docstrings and messages ("lapor.md,
Recovery", "bridge.md's conflict", ``shared/contract/open311.md``). A citation resolves when
``docs/contract/`` holds that file. The copies are kept in step with the shared folder
(docs/contract/README.md); that comparison needs the folder, which a clean clone (CI) does not
have, so there it is skipped with the reason, and only the citations are checked.
"""

from __future__ import annotations

import io
import os
import re
import tokenize
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "docs" / "contract"
# the shared folder the copies come from; LAPOR_BRIDGE_SHARED_CONTRACT points elsewhere
SHARED = Path(os.environ.get("LAPOR_BRIDGE_SHARED_CONTRACT", "/work/shared/contract"))
SCANNED = ("bridge", "adapters", "cli.py")
# a file name ending in .md, with the path written before it if any ("shared/contract/")
CITATION = re.compile(r"(?<![\w/.-])(/?(?:[\w.-]+/)*)([\w-]+\.md)\b")
# names that are not contracts: the repository's own README, cited as a file of the repo
NOT_CONTRACTS = {"README.md"}


def _sources() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def _prose(source: str) -> list[tuple[int, str]]:
    """The comments and string literals (docstrings included) of a module, with their lines."""
    kinds = {tokenize.COMMENT, tokenize.STRING}
    return [
        (tok.start[0], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type in kinds
    ]


@cache
def citations() -> dict[str, list[str]]:
    """Contract file name → where it is cited (``path:line``)."""
    found: dict[str, list[str]] = {}
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for line, text in _prose(path.read_text(encoding="utf-8")):
            for match in CITATION.finditer(text):
                prefix, name = match.groups()
                if name in NOT_CONTRACTS or (prefix and not prefix.endswith("contract/")):
                    continue  # a file of the repository by its path, not a contract
                found.setdefault(name, []).append(f"{rel}:{line}")
    return found


def test_the_scan_sees_the_citations() -> None:
    # a scan that finds nothing would pass every check below; the code cites these today
    assert {"bridge.md", "lapor.md", "open311.md"} <= set(citations())


def test_every_cited_contract_is_in_docs_contract() -> None:
    missing = {
        name: where[:3]
        for name, where in sorted(citations().items())
        if not (CONTRACT / name).is_file()
    }
    assert not missing, (
        "contract files cited by the code but absent from docs/contract/ "
        f"(copy them from shared/contract/): {missing}"
    )


def test_every_copy_is_listed_in_the_contract_readme() -> None:
    readme = (CONTRACT / "README.md").read_text(encoding="utf-8")
    unlisted = [
        p.name
        for p in sorted(CONTRACT.glob("*.md"))
        if p.name != "README.md" and f"]({p.name})" not in readme
    ]
    assert not unlisted, f"docs/contract/README.md does not list: {unlisted}"


def _shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(
            f"{SHARED} is absent (a clean clone, as in CI): the copies in docs/contract/ cannot be "
            "compared with the shared contracts; the citations are still checked"
        )
    return SHARED


def test_each_copy_is_identical_to_the_shared_contract() -> None:
    shared = _shared()
    differ = [
        p.name
        for p in sorted(CONTRACT.glob("*.md"))
        if p.name != "README.md"
        and (shared / p.name).is_file()
        and (shared / p.name).read_bytes() != p.read_bytes()
    ]
    assert not differ, (
        f"docs/contract/ differs from {shared} in {differ}: copy the shared contract here, "
        "in the same commit as the code that follows it"
    )


def test_every_shared_contract_has_a_copy() -> None:
    shared = _shared()
    absent = sorted(p.name for p in shared.glob("*.md") if not (CONTRACT / p.name).is_file())
    assert not absent, f"contracts in {shared} with no copy in docs/contract/: {absent}"


def test_no_copy_is_without_its_shared_contract() -> None:
    shared = _shared()
    extra = sorted(
        p.name
        for p in CONTRACT.glob("*.md")
        if p.name != "README.md" and not (shared / p.name).is_file()
    )
    assert not extra, f"docs/contract/ holds copies {shared} no longer has: {extra}"
