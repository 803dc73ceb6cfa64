"""The benchmark's ``--quick`` run still works end to end against PostgreSQL.

A smoke test, not a measurement: it checks that every part of the bench runs and that the
checks inside it hold (exactly K winners in every accept race, DESIGN's invariants after
the load, every live event delivered), never how fast anything was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import PG_SERVER

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.postgres_only


@pytest.mark.timeout(900)
def test_quick_bench_prints_its_table_with_every_check_passing(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    database = f"pitcrew_bench_smoke_{os.getpid()}"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--database", database],
        cwd=ROOT,
        env=dict(os.environ, PITCREW_BENCH_PG=PG_SERVER),
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "| section | measure | value |" in done.stdout, "the table goes to stdout too"

    rows = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    checks = [row for row in rows if "✅ pass" in row or "FAIL" in row]
    assert checks and not [row for row in checks if "FAIL" in row], checks
    for racers in (2, 8, 32):
        race = [row for row in rows if f"M={racers} invariant: exactly K winners" in row]
        assert len(race) == 1 and "✅ pass" in race[0], race
    assert [row for row in rows if "DESIGN's invariants with the history loaded" in row]
    live = [row for row in rows if "delivered / expected" in row]
    assert live and all("(100.0%)" in row and "✅ pass" in row for row in live), live
    two_hosts = [row for row in rows if row.startswith("| two hosts |")]
    passed = [row for row in two_hosts if "✅ pass" in row]
    assert len(passed) == 2, f"delivery across hosts and the race over both hosts: {two_hosts}"
    sections = ("| ceiling |", "| intake |", "| dashboard |", "| real time |", "| events log |")
    for section in sections:
        assert any(row.startswith(section) for row in rows), section
