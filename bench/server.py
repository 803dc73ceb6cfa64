"""A real ``pitcrew serve`` for the HTTP measurements, started and stopped by the bench."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``pitcrew serve --no-migrate --workers N`` on a loopback port, in its own process group."""

    def __init__(
        self, database_url: str, *, workers: int, log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.env = env or {}
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        env = dict(os.environ, DATABASE_URL=self.database_url, LOG_LEVEL="warning", **self.env)
        command = [sys.executable, "-m", "pitcrew.cli", "serve", "--no-migrate"]
        command += ["--workers", str(self.workers), "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(deadline=time.monotonic() + 60)

    def _wait_ready(self, *, deadline: float) -> None:
        """Ready when every worker has answered (each has imported the app and connected)."""
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log_path}")
            try:
                answer = httpx.get(f"{self.base_url}/healthz", timeout=2)
                if answer.status_code == 200 and len(self.worker_pids()) >= self.workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready in time; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the server), or the server itself."""
        assert self.process is not None
        children = _children(self.process.pid)
        if self.workers == 1 or not children:
            return [self.process.pid]
        return [pid for pid in children if "resource_tracker" not in _cmdline(pid)]

    def cpu_seconds(self) -> float:
        """CPU time used so far by the serving processes together."""
        return sum(_cpu(pid) for pid in self.worker_pids())

    def rss_bytes(self) -> int:
        """Resident memory of the serving processes together."""
        return sum(_rss(pid) for pid in self.worker_pids())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # the group this server was started in (start_new_session)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=5)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
