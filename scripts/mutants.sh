#!/usr/bin/env bash
# Mutation testing of the domain modules; slow, so not part of CI (docs/MUTANTS.md).
#
# mutmut changes one thing at a time in the status flow, the dashboard reads, the doctor, chat,
# call, pairing and access rules ([tool.mutmut] in pyproject.toml), and runs the fast
# non-browser tests that reach the changed function, on SQLite. A mutant no test notices
# "survives": a change to the product that the suite would let through.
#
#   bash scripts/mutants.sh                   # every module (hours on 2 shared cores)
#   bash scripts/mutants.sh "pitcrew.call.*"  # one module's mutants
#   bash scripts/mutants.sh --summary         # only the per-module table of what was run
#
# Runs are resumable: mutmut keeps what it found under mutants/ and checks only what changed.
# `.venv/bin/mutmut show <name>` prints one mutant's diff; `mutmut results` lists survivors.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test,mutants]'

if [ "${1:-}" != "--summary" ]; then
  # PostgreSQL must answer: the run collects the whole suite, whose fixtures reach it.
  nice -n 19 .venv/bin/mutmut run --max-children "${PITCREW_MUTANT_WORKERS:-$(nproc)}" "$@" || true
fi

.venv/bin/python - <<'PY'
"""Per module: mutants made, killed, survived, not yet run; the survivors by name."""
import json
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

root = Path("mutants/src")
print("| module | mutants | killed | survived | other | not run | killed of run |")
print("|---|---:|---:|---:|---:|---:|---:|")
survivors: list[str] = []
for meta in sorted(root.rglob("*.py.meta")):
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    if not codes:
        continue
    counts = Counter(status_by_exit_code[code] for code in codes.values())
    run = len(codes) - counts["not checked"]
    other = run - counts["killed"] - counts["survived"]
    share = f"{100 * counts['killed'] / run:.1f}%" if run else "-"
    module = str(meta.relative_to(root)).removesuffix(".py.meta")
    print(
        f"| {module} | {len(codes)} | {counts['killed']} | {counts['survived']} | {other}"
        f" | {counts['not checked']} | {share} |"
    )
    survivors += sorted(k for k, v in codes.items() if status_by_exit_code[v] == "survived")
print(f"\nsurvivors ({len(survivors)}):")
for name in survivors:
    print(f"  {name}")
PY
