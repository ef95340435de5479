"""Text from outside, neutralised for its medium: CSV cells a spreadsheet never runs as a
formula (OWASP), terminal lines without control characters, escape sequences or bidi
overrides. Injection strings go in through the store and come out through the CLI."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from bridge.core.text import spreadsheet_safe
from cli import shown, shown_block
from tests.test_indoubt import Bed

FORMULA = '=HYPERLINK("http://evil","x")'
OSC8 = "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\"
MARKUP = "[link=http://evil]x[/link]"
BIDI = "abc\u202eexe.txt"
C1 = "csi\x9b31mred"
#: ESC, other C0 controls but newline, DEL, C1 controls, bidi embeddings/overrides/isolates
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN = re.compile(r"[+-]?[0-9.]+|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@pytest.fixture
def bed(tmp_path: Path) -> Bed:
    """A database holding hostile text in every column the CLI prints or exports."""
    bed = Bed(tmp_path)
    store = bed.store()
    try:
        with store.atomic():
            store.quarantine(
                "tanjak",
                "=1+1",
                {"judul": FORMULA, "isi": OSC8, "tag": MARKUP, "nama_file": BIDI, "x": C1},
                f"bad category {OSC8} {BIDI} {MARKUP} {C1}",
            )
            store.quarantine("tanjak", "q2", {"isi": "ok"}, FORMULA)
            store.insert_mapping(
                source="tanjak",
                local_id="31",
                national_id=9165031,
                origin="local",
                status="in_progress",
                local_status=f"+{OSC8}",
                category=f"@SUM(1) {BIDI}",
                agency=FORMULA + C1,
                link_state="done",
                created_at="2024-01-02T01:00:00+00:00",
                first_synced_at="2024-01-02T02:00:00+00:00",
                last_synced_at="2024-01-02T02:00:00+00:00",
            )
            store.event("local_status_moved", "tanjak", "31", 9165031, new=OSC8 + BIDI)
    finally:
        store.close()
    return bed


def assert_terminal_safe(out: str) -> None:
    assert not UNSAFE.search(out), repr(UNSAFE.findall(out))


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_spreadsheet_safe(text: str) -> None:
    for cell in csv_cells(text):
        assert not cell.startswith(FORMULA_START) or PLAIN.fullmatch(cell), cell


# --- spreadsheet_safe -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        (FORMULA, "'" + FORMULA),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        ("-inf", "'-inf"),
        ("-3.5", "-3.5"),
        ("+7", "+7"),
        ("-1e3", "-1e3"),
        ("-.5", "-.5"),
        ("", ""),
        ("Dinas PU", "Dinas PU"),
        ("a=b", "a=b"),
        ("'=already", "'=already"),
        ("2024-01-02T01:00:00Z", "2024-01-02T01:00:00Z"),
        ("#9165031", "#9165031"),
    ],
)
def test_spreadsheet_safe(value: str, expected: str) -> None:
    assert spreadsheet_safe(value) == expected


# --- terminal helpers -------------------------------------------------------------------


def test_shown_strips_escapes_c1_and_bidi_but_keeps_the_words() -> None:
    text = shown(f"{OSC8} {BIDI} {C1} {MARKUP}\r\nnext")
    assert_terminal_safe(text)
    assert "click" in text and "abcexe.txt" in text and "csi31mred" in text
    assert MARKUP in text and "\n" not in text and "next" in text


def test_shown_block_keeps_lines_and_indentation() -> None:
    block = shown_block('{\n  "a": "' + OSC8 + BIDI + C1 + '\t"\n}')
    assert_terminal_safe(block)
    assert block.splitlines()[1].startswith('  "a": "]8;;http://evil')
    assert block.count("\n") == 2


# --- through the CLI --------------------------------------------------------------------


def test_quarantine_list_and_show(bed: Bed) -> None:
    code, out = bed.cli("quarantine", "list")
    assert code == 0
    assert_terminal_safe(out)
    assert "tanjak:=1+1" in out and "click" in out and "abcexe.txt" in out
    assert MARKUP in out  # printed as it is, never interpreted
    entry = out.split()[0]
    code, out = bed.cli("quarantine", "show", entry)
    assert code == 0
    assert_terminal_safe(out)
    assert "record:   tanjak:=1+1" in out and "csi31mred" in out and "click" in out
    payload = json.loads(out.split("raw payload (personal data masked):\n", 1)[1])
    assert payload["judul"] == FORMULA and payload["tag"] == MARKUP
    assert payload["nama_file"] == "abcexe.txt" and payload["x"] == "csi31mred"


def test_mapping_show(bed: Bed) -> None:
    for ref in ("tanjak:31", "#9165031"):
        code, out = bed.cli("mapping", "show", ref)
        assert code == 0, out
        assert_terminal_safe(out)
        assert "local_status: +]8;;http://evil\\click]8;;\\" in out
        assert "local_status_moved" in out


def test_sla_text_report(bed: Bed) -> None:
    code, out = bed.cli("report", "sla", "--since", "2000-01-01")  # every year
    assert code == 0, out
    assert_terminal_safe(out)
    assert FORMULA + "csi31mred" in out  # the agency, readable


def test_sla_csv_report(bed: Bed) -> None:
    code, out = bed.cli("report", "sla", "--format", "csv", "--since", "2000-01-01")
    assert code == 0, out
    assert_spreadsheet_safe(out)
    assert "'" + FORMULA + C1 in csv_cells(out)  # the agency: quoted, else unchanged


def test_export_csv(bed: Bed) -> None:
    code, out = bed.cli("export", "--format", "csv")
    assert code == 0, out
    assert_spreadsheet_safe(out)
    cells = csv_cells(out)
    for quoted in ("'=1+1", "'+" + OSC8, "'@SUM(1) " + BIDI, "'" + FORMULA + C1):
        assert quoted in cells
    assert "quarantined: " + FORMULA in cells  # not at the start: left as it is
    assert "2024-01-02T08:00:00+07:00" in cells  # the stored UTC time, shown in WIB


def test_json_export_is_unchanged(bed: Bed) -> None:
    code, out = bed.cli("export", "--format", "json")
    assert code == 0, out
    rows = json.loads(out)
    assert {r["local_id"] for r in rows} >= {"31", "=1+1"}
    assert any(r["agency"] == FORMULA + C1 for r in rows)
    assert any(r["local_status"] == "+" + OSC8 for r in rows)
