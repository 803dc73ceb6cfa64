"""py-spy on the server's workers during an extra, unmeasured repetition of a phase.

Measurements are never taken under the profiler; with ``--profile`` each phase that has a
goal runs once more with py-spy sampling the workers' Python stacks while they hold the GIL
(their CPU time), and the summary goes into RESULTS.md: where a request's CPU goes, by
library and by pitcrew function.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.server import Server

LIBRARIES = (  # py-spy names a frame "function (package/module.py:line)"
    ("pitcrew", "(pitcrew/"),
    ("SQLAlchemy", "(sqlalchemy/"),
    ("psycopg", "(psycopg"),
    ("FastAPI / Starlette", "(fastapi/"),
    ("FastAPI / Starlette", "(starlette/"),
    ("pydantic", "(pydantic"),
    ("uvicorn / httptools", "(uvicorn/"),
    ("threads / asyncio / anyio", "(anyio/"),
    ("threads / asyncio / anyio", "(asyncio/"),
    ("threads / asyncio / anyio", "(threading.py"),
    ("threads / asyncio / anyio", "(concurrent/"),
    ("threads / asyncio / anyio", "(queue.py"),
    ("prometheus_client", "(prometheus_client/"),
)


def find_py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


@dataclass
class Profile:
    name: str
    samples: int = 0
    by_library: Counter[str] = field(default_factory=Counter)  # self time
    by_function: Counter[str] = field(default_factory=Counter)  # pitcrew frames, inclusive

    def markdown(self, top: int = 12) -> str:
        if not self.samples:
            return f"**{self.name}**: no samples (py-spy could not attach)."
        share = {k: f"{n / self.samples:.0%}" for k, n in self.by_library.most_common()}
        libs = ", ".join(f"{lib} {pct}" for lib, pct in share.items())
        funcs = "\n".join(
            f"| {n / self.samples:.0%} | `{frame}` |"
            for frame, n in self.by_function.most_common(top)
        )
        return (
            f"**{self.name}** ({self.samples:,} samples of the workers' CPU time)\n\n"
            f"Self time by library: {libs}.\n\n| inclusive | pitcrew frame |\n|---|---|\n{funcs}"
        )


class Profiler:
    def __init__(self, executable: str, out_dir: Path) -> None:
        self.executable = executable
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.profiles: list[Profile] = []

    @contextmanager
    def record(self, name: str, server: Server) -> Iterator[None]:
        slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
        outputs = []
        spies = []
        for pid in server.worker_pids():
            output = self.out_dir / f"{slug}-{pid}.txt"
            outputs.append(output)
            command = [self.executable, "record", "--pid", str(pid), "--format", "raw"]
            command += ["--rate", "200", "--nonblocking", "--gil", "--output", str(output)]
            spies.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        time.sleep(1.0)  # attached
        try:
            yield
        finally:
            for spy in spies:
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                try:
                    spy.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    spy.kill()
        self.profiles.append(summarise(name, outputs))


def summarise(name: str, outputs: list[Path]) -> Profile:
    """Collapsed stacks ("frame;frame;frame count" per line) into the two tables."""
    profile = Profile(name)
    for path in outputs:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            profile.samples += n
            profile.by_library[_library(frames[-1])] += n
            mine = (f for f in frames if "(pitcrew/" in f and "(pitcrew/cli.py" not in f)
            for frame in dict.fromkeys(_short(f) for f in mine):
                profile.by_function[frame] += n
    return profile


def _library(frame: str) -> str:
    for library, marker in LIBRARIES:
        if marker in frame:
            return library
    return "other"


def _short(frame: str) -> str:
    """``accept (pitcrew/flow.py:321)`` keeps the function and file, drops the line."""
    function, _, where = frame.partition(" (")
    where = where.rstrip(")").split(":")[0]
    return f"{function} ({where})"
