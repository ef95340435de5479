"""``python -m bench.screenshot [--out docs/report.png]``: the README's picture of the report.

Runs the demo (the sandboxes on loopback, six passes of the bridge), writes its
HTML report, and has headless Chromium photograph the top of it at 1400 px wide:
the summary tiles, the charts and the first city's agencies on every clock.
The PNG is reduced to a palette so it stays small (< 300 KB) in the repository.
``make report-screenshot`` runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from adapters.demo import run_demo

WIDTH, HEIGHT = 1400, 2000
LIMIT = 300_000


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise SystemExit("no chromium on PATH (Debian package 'chromium')")
    return found


def photograph(page: Path, target: Path) -> int:
    """A screenshot of the top of ``page``; returns the PNG's size in bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.png"
        subprocess.run(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={Path(tmp) / 'profile'}",
                f"--window-size={WIDTH},{HEIGHT}",
                "--virtual-time-budget=5000",
                f"--screenshot={raw}",
                page.as_uri(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        with Image.open(raw) as shot:
            small = shot.convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT)
    target.parent.mkdir(parents=True, exist_ok=True)
    small.save(target, optimize=True)
    return target.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshot", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/report.png"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with contextlib.redirect_stdout(io.StringIO()):  # the demo's narration
            code = run_demo(workdir)
        if code != 0:
            print("the demo did not end healthy: no screenshot", file=sys.stderr)
            return 1
        size = photograph(workdir / "report.html", args.out)
    print(f"{args.out}: {WIDTH}×{HEIGHT}, {size // 1000} KB")
    if size > LIMIT:
        print(f"larger than {LIMIT // 1000} KB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
