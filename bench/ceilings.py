"""pgbench on pitcrew's real schema: what PostgreSQL alone does on this machine, right now.

Each HTTP figure in the table is divided by one of these, so a slow or busy machine lowers
both sides and the ratio still says how much the service costs on top of its SQL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.database import BenchDatabase
from bench.stats import Latency

SCRIPTS = Path(__file__).parent / "pgbench"


class MissingPgbench(RuntimeError):
    pass


def find_pgbench(*, install: bool) -> str:
    """pgbench's path; installed with apt-get when allowed and possible, else a clear error."""
    # Debian's /usr/bin/pgbench is a wrapper that fails when no server package is installed.
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), key=_version)
    found = str(installed[-1]) if installed else shutil.which("pgbench")
    if found:
        return found
    if install and shutil.which("apt-get") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        # Debian ships pgbench with the server (postgresql-15) or client (16+) package;
        # postgresql-contrib depends on the one that has it.
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "postgresql-contrib"], check=True, env=env
        )
        return find_pgbench(install=False)
    raise MissingPgbench(
        "pgbench is required: install Debian's postgresql-contrib (or postgresql-client) "
        "package, e.g. `sudo apt-get install postgresql-contrib`, or run the bench as root "
        "with --install-pgbench."
    )


def _version(path: Path) -> int:
    name = path.parent.parent.name
    return int(name) if name.isdigit() else 0


@dataclass(frozen=True)
class PgbenchRun:
    clients: int
    transactions: int
    failed: int
    tps: float  # pgbench's, without connection time
    latency: Latency

    @property
    def seconds(self) -> float:
        return self.transactions / self.tps if self.tps else 0.0


def pgbench(
    executable: str,
    db: BenchDatabase,
    script: str,
    *,
    clients: int,
    transactions: int | None = None,
    seconds: float | None = None,
    define: dict[str, int] | None = None,
) -> PgbenchRun:
    """Run one pgbench script (prepared statements, as psycopg sends them after warm-up)."""
    command = [executable, "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(2, clients))]
    if transactions is not None:
        command += ["-t", str(transactions)]
    else:
        command += ["-T", str(max(1, round(seconds or 1)))]
    for name, value in (define or {}).items():
        command += ["-D", f"{name}={value}"]
    with tempfile.TemporaryDirectory(prefix="pitcrew-pgbench-") as logs:
        command += ["-l", "--log-prefix", f"{logs}/tx", "-f", str(SCRIPTS / script)]
        done = subprocess.run(
            command,
            env=dict(os.environ, **db.libpq_env()),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pgbench {script} failed:\n{done.stdout}\n{done.stderr}")
        latencies = _logged_latencies(Path(logs))
    out = done.stdout
    return PgbenchRun(
        clients=clients,
        transactions=_number(r"actually processed: (\d+)", out),
        failed=_number(r"failed transactions: (\d+)", out),
        tps=float(_match(r"tps = ([\d.]+) \(without initial connection time\)", out)),
        latency=Latency.of(latencies),
    )


def _logged_latencies(logs: Path) -> list[float]:
    """Per-transaction latencies (seconds) from pgbench's -l files (third field, in µs)."""
    seconds = []
    for path in logs.glob("tx.*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[2].isdigit():
                seconds.append(int(fields[2]) / 1e6)
    return seconds


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"unexpected pgbench output (no {pattern!r}):\n{text}")
    return found.group(1)


def _number(pattern: str, text: str) -> int:
    return int(_match(pattern, text))
