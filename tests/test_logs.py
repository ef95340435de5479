"""Citizens' data and secrets never reach a log line, exception texts included."""

from __future__ import annotations

import io
import json
import random

import structlog

from bridge.runtime import logs
from tests.harness import LAPOR_SECRET, LAPOR_TOKEN, TANJAK_KEY, World


def _capture(fmt: str = "json") -> io.StringIO:
    stream = io.StringIO()
    logs.configure("debug", fmt, stream)
    return stream


def test_sensitive_keys_and_patterns_are_masked() -> None:
    stream = _capture()
    log = structlog.get_logger("t")
    log.info(
        "citizen",
        pelapor={"nama": "Siti Aminah", "hp": "0812-3456-7890", "nik": "2172015501900001"},
        note="call 62812 3456 7890 or +6281234567890, NIK 2172015501900001",
        url="http://x/?api_key=abc123&limit=5",
        header="Bearer eyJhbGciOi.secret.token",
        token="{6f1c2a9e-1b7d-4c1e-9d51-2b1f0c7e8a11}",
    )
    line = stream.getvalue()
    for leaked in ("Siti", "3456", "2172015501900001", "abc123", "eyJhbGciOi", "6f1c2a9e"):
        assert leaked not in line, leaked
    record = json.loads(line)
    assert record["pelapor"] == logs.MASK and "limit=5" in record["url"]


def test_tracebacks_show_no_locals_and_are_scrubbed() -> None:
    stream = _capture()
    log = structlog.get_logger("t")
    password = "hunter2-very-secret"  # a local variable that must not be shown
    try:
        raise RuntimeError(f"refused login for 081234567890 with token={password}")
    except RuntimeError:
        log.exception("boom")
    text = stream.getvalue()
    assert "hunter2" not in text and "081234567890" not in text
    assert "RuntimeError" in text


def test_a_whole_sync_logs_no_citizen_data_or_secret(world: World) -> None:
    stream = _capture("console")
    people = []
    rng = random.Random(5)
    for n in range(8):
        nik = f"21720155019000{n:02d}"
        phone = f"0812{rng.randrange(10**7, 10**8)}"
        people.append(("Budi Santoso" + str(n), phone, nik))
        world.tanjak.add_aduan(
            isi=f"Sampah menumpuk di gang {n}, mohon diangkut. Hubungi saya di {phone}.",
            pelapor={"nama": "Budi Santoso" + str(n), "hp": phone, "nik": nik},
            anonim=False,
        )
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    world.tanjak.corrupt(1, status="entah")
    world.sync()
    world.sync()
    text = stream.getvalue()
    assert "quarantined" in text  # the run did log
    for name, phone, nik in people:
        assert name not in text and phone not in text and nik not in text
    for secret in (LAPOR_SECRET, LAPOR_TOKEN, TANJAK_KEY):
        assert secret not in text
