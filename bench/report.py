"""The table every run prints, and bench/RESULTS.md with the machine, date and revision."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

KEPT = "<!-- Everything below this line is written by hand and kept by every run. -->"


@dataclass(frozen=True)
class Row:
    section: str
    measure: str
    value: str
    ceiling: str = ""
    ratio: str = ""
    goal: str = ""
    verdict: str = ""  # "met", "missed", "pass", "FAIL" or ""


@dataclass
class Report:
    mode: str
    started: float = field(default_factory=time.monotonic)
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    machine: dict[str, str] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(_line(row), flush=True)

    @property
    def failed_checks(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "FAIL"]

    def table(self) -> str:
        head = "| section | measure | value | ceiling | ratio | goal | |\n" + "|---" * 7 + "|"
        body = "\n".join(
            f"| {r.section} | {r.measure} | {r.value} | {r.ceiling} | {r.ratio} | {r.goal}"
            f" | {_mark(r.verdict)} |"
            for r in self.rows
        )
        return f"{head}\n{body}"

    def markdown(self, kept: str) -> str:
        facts = "\n".join(f"- **{k}**: {v}" for k, v in self.machine.items())
        parts = [
            "# pitcrew benchmarks",
            "Written by `python -m bench` (see the README's *Benchmarks*). Every figure is "
            "measured against a ceiling taken in the same run on the same machine; ratios are "
            "what to compare between runs and machines, not the raw rates.",
            f"## This run ({self.mode})\n\n{facts}",
            f"## Results\n\n{self.table()}",
            *self.details,
            KEPT,
            kept.strip(),
        ]
        return "\n\n".join(p for p in parts if p) + "\n"

    def write(self, path: Path) -> None:
        kept = ""
        if path.exists():
            text = path.read_text()
            if KEPT in text:
                kept = text.split(KEPT, 1)[1]
        path.write_text(self.markdown(kept))


def _mark(verdict: str) -> str:
    return {"met": "✅ met", "missed": "❌ missed", "pass": "✅ pass", "FAIL": "❌ FAIL"}.get(
        verdict, ""
    )


def _line(row: Row) -> str:
    extra = f"  (ceiling {row.ceiling}, ratio {row.ratio})" if row.ceiling else ""
    goal = f"  goal {row.goal}: {row.verdict}" if row.goal else ""
    return f"  {row.section:<12} {row.measure:<44} {row.value}{extra}{goal}"


def goal(met: bool) -> str:
    return "met" if met else "missed"


def check(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def fmt(value: float, unit: str = "", digits: int = 0) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}{unit}"


def other_load(seconds: float = 3.0) -> str:
    """What else kept the machine busy just before the run, and who."""

    def machine_ticks() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]

    total0, idle0 = machine_ticks()
    before = _process_ticks()
    time.sleep(seconds)
    total1, idle1 = machine_ticks()
    after = _process_ticks()
    busy = 1 - (idle1 - idle0) / max(1, total1 - total0)
    hz = os.sysconf("SC_CLK_TCK")
    users: dict[str, float] = {}
    for pid, (name, ticks) in after.items():
        used = (ticks - before.get(pid, (name, ticks))[1]) / hz / seconds
        users[name] = users.get(name, 0.0) + used
    top = [f"{name} {cores:.1f}" for name, cores in sorted(users.items(), key=lambda x: -x[1])]
    busiest = ", ".join(t for t in top[:4] if not t.endswith(" 0.0")) or "nothing"
    return (
        f"{busy:.0%} of all cores busy in the {seconds:.0f} s before the run"
        f" (in cores: {busiest}; load average {os.getloadavg()[0]:.1f})"
    )


def _process_ticks() -> dict[int, tuple[str, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))
    return found


def machine(pg_version: str) -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": revision(),
        "machine": f"{cpu}, {os.cpu_count()} cores, {mem_kib / 2**20:.0f} GiB RAM,"
        f" {platform.system()} {platform.release()}",
        "software": f"PostgreSQL {pg_version}, Python {platform.python_version()}",
    }


def revision() -> str:
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" with uncommitted changes" if git("status", "--porcelain") else "")
