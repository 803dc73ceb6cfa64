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
# A pattern is matched (fnmatch) against mutant names, which are the module's dotted name,
# "x_" and the function's name: `pitcrew.access.x_part_of__mutmut_3`. So "pitcrew.access.*" is
# access.py alone and "pitcrew.doctor.*" the doctor's eight files. mutmut's progress line
# ("12/3700") counts the mutants of every module, also when a pattern picks a few of them; the
# line printed before the run says how many it will check.
#
# Runs are resumable: mutmut keeps what it found under mutants/, and a pattern is handed to
# it as the names of the mutants it matches that have no result yet (mutmut itself re-runs
# every mutant a pattern names). PITCREW_MUTANT_RERUN=1 checks them all again.
# `.venv/bin/mutmut show <name>` prints one mutant's diff; `mutmut results` lists survivors.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test,mutants]'

# The mutants matching the patterns in "$@" that have no result yet, one name a line; the
# patterns themselves when no mutants have been made yet (the first run makes them).
pending() {
  .venv/bin/python - "$@" <<'PY'
"""Names of the not yet checked mutants matching the patterns given."""
import fnmatch
import json
import os
import sys
from pathlib import Path

patterns = sys.argv[1:]
metas = sorted(Path("mutants/src").rglob("*.py.meta"))
if not metas:
    print("\n".join(patterns))
    raise SystemExit
rerun = os.environ.get("PITCREW_MUTANT_RERUN") == "1"
matched = [
    (name, code)
    for meta in metas
    for name, code in json.loads(meta.read_text())["exit_code_by_key"].items()
    if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
]
todo = [name for name, code in matched if rerun or code is None]
print(f"{len(matched)} mutants match, {len(todo)} to check", file=sys.stderr)
print("\n".join(todo))
PY
}

if [ "${1:-}" != "--summary" ]; then
  names=()
  if [ $# -gt 0 ]; then
    mapfile -t names < <(pending "$@")
  fi
  if [ $# -gt 0 ] && [ ${#names[@]} -eq 0 ]; then
    echo "every mutant matching $* has a result already"
  else
    # PostgreSQL must answer: the run collects the whole suite, whose fixtures reach it.
    nice -n 5 .venv/bin/mutmut run --max-children "${PITCREW_MUTANT_WORKERS:-$(nproc)}" \
      "${names[@]}" || true
  fi
fi
.venv/bin/python - <<'PY'
"""Per module: mutants made, killed, survived, not yet run; what was not killed, by name."""
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
    survivors += sorted(
        f"{k} ({status_by_exit_code[v]})"
        for k, v in codes.items()
        if status_by_exit_code[v] not in ("killed", "not checked")
    )
print(f"\nrun and not killed ({len(survivors)}):")
for name in survivors:
    print(f"  {name}")
PY
