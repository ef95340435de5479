"""What a person reads from the CLI: help, completion, README, status at 80 columns,
progress and summaries, and times in WIB."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import _plan_kind, app
from tests.harness import World

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
#: a Python type where a metavar belongs: ``<bool>``, ``<list[str]>``, ``<str>``, ``<path>``
TYPE_METAVAR = re.compile(r"<[a-z][a-z_\[\], |]*>")
WIB_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+07:00")


def command_paths() -> list[tuple[str, ...]]:
    """Every command of the app, as typed (``("quarantine", "show")``), groups included:
    taken from the app itself, so that it stays true as commands are added."""
    found: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        found.append(path)
        names = getattr(command, "list_commands", None)
        if names is None:
            return
        for name in names(None):
            walk(command.get_command(None, name), (*path, name))  # type: ignore[attr-defined]

    walk(typer.main.get_command(app), ())
    return found


def leaf_commands() -> list[tuple[str, ...]]:
    paths = command_paths()
    return [p for p in paths if p and not any(q[: len(p)] == p and q != p for q in paths)]


def _cli(world: World, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(
        app, ["--config", str(world.config_path), *args], env={"COLUMNS": "80", **(env or {})}
    )
    return result.exit_code, result.output


# help, completion, README -------------------------------------------------------------


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "(root)")
def test_every_help_exits_0_with_real_metavars(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert not TYPE_METAVAR.search(result.output), result.output
    # no pointer at a contract file the repository does not hold
    for name in re.findall(r"[\w./-]+\.md\b", result.output):
        assert (ROOT / name).exists() or (ROOT / "docs" / name).exists(), name
    assert "contract" not in result.output.lower()
    assert all(len(line) <= 80 for line in result.output.splitlines()), result.output


def test_options_name_what_they_take() -> None:
    out = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "80"}).output
    for shown in ("--format csv|json|html", "--out PATH", "--source NAME", "--since TIME"):
        assert shown in out
    out = runner.invoke(app, ["resync", "--help"], env={"COLUMNS": "80"}).output
    assert "--id ID" in out and "--dry-run " in out


def test_shell_completion_is_offered_and_completes_commands() -> None:
    out = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}).output
    assert "--install-completion" in out and "--show-completion" in out
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="lapor-bridge")
    assert script.exit_code == 0
    assert "complete -o default -F _lapor_bridge_completion lapor-bridge" in script.output
    done = runner.invoke(
        app,
        [],
        prog_name="lapor-bridge",
        env={
            "_LAPOR_BRIDGE_COMPLETE": "complete_bash",
            "COMP_WORDS": "lapor-bridge quar",
            "COMP_CWORD": "1",
        },
    )
    assert done.output.split() == ["quarantine"]


WORD = re.compile(r"[a-z][a-z-]*")


def _readme_mentions(text: str) -> set[tuple[str, ...]]:
    """Each ``lapor-bridge WORD [WORD]`` in the README's code (spans and blocks); in an
    alternation (``lapor-bridge quarantine list|show ID``) each alternative counts."""
    found: set[tuple[str, ...]] = set()
    for piece in re.findall(r"```.*?```|`[^`\n]+`", text, flags=re.S):
        for match in re.finditer(r"(?<![\w/.-])lapor-bridge(?= )", piece):
            rest = piece[match.end() :].split("\n")[0].strip("` ")
            segments = re.split(r"\\?\|", rest)
            words = segments[0].split()
            while words and words[0].startswith("-"):  # --config PATH before the command
                words = words[2:] if words[0] == "--config" else words[1:]
            if not words or not WORD.fullmatch(words[0]):
                continue
            if len(words) > 1 and WORD.fullmatch(words[1]):
                found.add((words[0], words[1]))
            else:
                found.add((words[0],))
            for segment in segments[1:]:
                first = segment.split()[:1]
                if first and WORD.fullmatch(first[0]):
                    found.add((words[0], first[0]))
    return found


def test_readme_lists_every_command_and_only_real_ones() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    mentions = _readme_mentions(readme)
    paths = set(command_paths())
    for mention in mentions:
        # a mention is a command, or a command with its first argument (status json)
        assert mention in paths or mention[:1] in paths, f"README names no such command: {mention}"
    for leaf in leaf_commands():
        assert leaf in mentions, f"`lapor-bridge {' '.join(leaf)}` is not in README"


# status ---------------------------------------------------------------------------------


@pytest.fixture
def troubled(world: World) -> Iterator[World]:
    """A world with a quarantined record and a long error on the last pass."""
    world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    bad = world.tanjak.add_aduan(isi="Jalan rusak parah di depan SD 005, banyak lubang.")
    world.tanjak.corrupt(bad["id"], status="entah")
    world.sync()
    store = world.store()
    with store.atomic():
        store.pass_started("source:tanjak", "source")
        store.pass_finished(
            "source:tanjak",
            "cannot connect to Tanjak (tanjak): connection refused (nothing listens at that"
            " address and port), http://127.0.0.1:1/api/v1/aduan/perubahan-sejak-yang-panjang"
            "-sekali-tanpa-spasi-sama-sekali-untuk-menguji-pembungkusan (gave up after 6 attempts)",
        )
    store.close()
    yield world


def test_status_fits_80_columns_without_raw_cursors(troubled: World) -> None:
    code, out = _cli(troubled, "status")
    assert code == 1, out
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    assert "cursor:" not in out  # a feed position is for debugging: --verbose
    assert "source tanjak: ERROR" in out and "quarantined 1" in out
    assert "status --verbose" in out  # where the details are
    assert "health: ERROR" in out


def test_status_verbose_and_per_source_details_fit_too(troubled: World) -> None:
    for args in (("status", "--verbose"), ("status", "--source", "tanjak")):
        code, out = _cli(troubled, *args)
        assert code == 1
        assert all(len(line) <= 80 for line in out.splitlines()), out
        assert "cursor:" in out and "last pass:" in out
    code, out = _cli(troubled, "status", "--verbose")
    assert "- A create whose answer was lost" in out  # the profile's assumptions
    code, out = _cli(troubled, "status", "--source", "tanjak")
    assert "account tanjungpinang" not in out
    code, out = _cli(troubled, "status", "--source", "nope")
    assert code == 2 and "no such source" in out


def test_status_through_the_entry_point_at_80_columns(troubled: World) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "--config", str(troubled.config_path), "status"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout and all(len(line) <= 80 for line in result.stdout.splitlines())


# sync, resync: summaries -----------------------------------------------------------------


def test_sync_prints_a_line_per_source_not_a_log_line_per_complaint(world: World) -> None:
    for n in range(3):
        world.tanjak.add_aduan(isi=f"Lampu jalan mati di Jl. Pramuka nomor {n} sejak seminggu.")
    command = [sys.executable, str(ROOT / "cli.py"), "--config", str(world.config_path), "sync"]
    env = {**os.environ, "LAPOR_BRIDGE_BRIDGE__LOG_LEVEL": "info"}
    quiet = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.splitlines()[0].startswith("source tanjak: seen 3, created 3")
    assert any(line.startswith("account tanjungpinang: ") for line in quiet.stdout.splitlines())
    assert '"created"' not in quiet.stderr and "created" not in quiet.stderr
    world.tanjak.add_aduan(isi="Pohon tumbang menutup jalan di Jl. Sei Timun sejak pagi.")
    loud = subprocess.run([*command, "-v"], capture_output=True, text=True, env=env, timeout=120)
    assert loud.returncode == 0 and "created" in loud.stderr  # the record's log line


def test_dry_run_ends_with_a_summary_table(world: World) -> None:
    world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    assert world.sync().ok
    world.tanjak.add_aduan(isi="Pohon tumbang menutup jalan di Jl. Sei Timun sejak pagi.")
    bad = world.tanjak.add_aduan(isi="Jalan rusak parah di depan SD 005, banyak lubang.")
    world.tanjak.corrupt(bad["id"], status="entah")
    code, out = _cli(world, "resync", "--source", "tanjak", "--dry-run")
    assert code == 0, out
    tail = out.splitlines()[-7:]
    assert tail[0] == "dry run of tanjak: 3 record(s) read, nothing written"
    table = dict(line.split() for line in tail[1:])
    assert table == {
        "create": "1",
        "recover": "0",
        "link": "0",
        "update": "0",
        "unchanged": "1",
        "quarantine": "1",
    }
    assert len(world.national_for(2)) == 0  # nothing was written


def test_plan_kinds_from_the_engine_s_words() -> None:
    assert _plan_kind("tanjak:1: create, writeback") == "create"
    assert _plan_kind("tanjak:1 (#9): record, writeback") == "update"
    assert _plan_kind("tanjak:1 (#9): nothing to do") == "unchanged"
    assert _plan_kind("tanjak:1: quarantine (status: 'entah' is not a status)") == "quarantine"
    assert _plan_kind("tanjak:1: recover") == "recover"


def test_resync_shows_progress_with_total_and_eta_on_a_terminal() -> None:
    import pty

    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
        "from cli import _progress\n"
        "with _progress(True, total=4) as advance:\n"
        "    for _ in range(4):\n"
        "        time.sleep(0.3); advance()\n"
    )
    pid, fd = pty.fork()
    if pid == 0:  # the child: stderr on the terminal
        os.execv(sys.executable, [sys.executable, "-c", code])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode("utf-8", "replace"))
    assert "reconciling" in text and "/4" in text and "%" in text
    assert re.search(r"\d:\d\d:\d\d", text)  # elapsed and time remaining


def test_resync_in_a_pipe_prints_one_summary_line(world: World) -> None:
    world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    code, out = _cli(world, "resync", "--source", "tanjak")
    assert code == 0, out
    assert out.splitlines() == [
        "tanjak: seen 1, created 1, linked 0, updated 0, quarantined 0,"
        " follow-ups sent 0, responses 0"
    ]


# times ----------------------------------------------------------------------------------


def test_exports_give_times_in_wib_with_their_offset(world: World) -> None:
    world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    assert world.sync().ok
    code, out = _cli(world, "export", "--format", "json")
    assert code == 0
    (row,) = json.loads(out)
    times = {k: v for k, v in row.items() if k.endswith("_at") and v}
    assert {"created_at", "first_synced_at", "last_synced_at"} <= set(times)
    assert all(WIB_TIME.fullmatch(v) for v in times.values()), times
    code, out = _cli(world, "export", "--format", "csv")
    (line,) = list(csv.DictReader(io.StringIO(out)))
    assert line["first_synced_at"] == row["first_synced_at"]
    assert all(WIB_TIME.fullmatch(v) for k, v in line.items() if k.endswith("_at") and v)
