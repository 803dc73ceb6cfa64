"""What the operator reads: a table that fits the terminal, a summary line, or JSON.

The summary says what to do next (``--apply`` when something is repairable), and the table
lists the rules that the shown problems break, so the report can be read without the docs.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Sequence

from pitcrew import invariants
from pitcrew.doctor import media
from pitcrew.doctor.problems import Problem, Report

# How many offending row ids the table shows per problem; --json lists them all.
SHOWN_ROWS = 5


def as_json(report: Report, after: Report | None = None) -> str:
    """The report as JSON; after a repair, ``after`` summarises what is left."""
    out = report.as_json()
    out["summary"]["media"] = media.counts(report)
    if after is not None:
        out["after"] = {**after.as_json()["summary"], "media": media.counts(after)}
    return json.dumps(out, indent=2)


def summary(report: Report) -> str:
    if report.clean:
        return "No problems: every invariant holds."
    broken = ", ".join(f"{n} {name}" for name, n in report.violations.items() if n)
    people = len(report.for_a_person)
    if report.applied:
        line = f"Repaired {len(report.repairable)} problem(s); {people} need(s) a person."
        line += f" Violations found: {broken}." if broken else ""
        return line + _media_words(report)
    line = f"{len(report.problems)} problem(s): {len(report.repairable)} repairable"
    if report.repairable:
        line += " (pitcrew doctor --apply)"
    line += f", {people} need(s) a person."
    line += f" Violations: {broken}." if broken else ""
    return line + _media_words(report)


def _media_words(report: Report) -> str:
    found = media.counts(report)
    parts = []
    if found["unnamed_files"]:
        parts.append(f"{found['unnamed_files']} file(s) no message names")
    if found["messages_missing_files"]:
        parts.append(f"{found['messages_missing_files']} photo message(s) missing a file")
    return f" Media: {', '.join(parts)}." if parts else ""


def render(report: Report, *, width: int | None = None) -> str:
    """A plain table of every problem, the invariants involved, and a summary line."""
    width = width or max(100, shutil.get_terminal_size((140, 24)).columns)
    lines = [f"Database: {report.database}"]
    if report.problems:
        rows = [("#", "breaks", "rows", "problem", "repair")]
        for number, problem in enumerate(report.problems, 1):
            breaks_text = ",".join(str(n) for n in problem.invariants) or (
                "media" if problem.check in media.CHECKS else "data"
            )
            rows.append((str(number), breaks_text, _ids(problem), problem.state, problem.repair))
        lines.append(_table(rows, width))
        used = sorted({n for p in report.problems for n in p.invariants})
        lines.extend(
            f"  {inv.number}: {inv.rule}" for inv in invariants.INVARIANTS if inv.number in used
        )
    lines.extend(report.notes)
    lines.append(summary(report))
    return "\n".join(lines)


def _ids(problem: Problem) -> str:
    ids = []
    if problem.request_id:
        ids.append(f"request {problem.request_id}")
    if problem.session_id:
        ids.append(f"session {problem.session_id}")
    shown = problem.rows[:SHOWN_ROWS]
    named = "message " if problem.check == media.MISSING else ""
    ids.extend(f"{named}{r}" for r in shown)
    ids.extend(path.partition("/")[2] for path in problem.files)  # within the session's folder
    if len(problem.rows) > len(shown):
        ids.append(f"… {len(problem.rows) - len(shown)} more (--json)")
    return "\n".join(ids)


def _table(rows: Sequence[Sequence[str]], width: int) -> str:
    """Columns sized to the terminal: the three narrow ones fit, the two texts share the rest."""
    fixed = [
        max(len(line) for row in rows for line in row[i].splitlines() or [""]) for i in range(3)
    ]
    rest = max(40, width - sum(fixed) - 2 * 4)
    widths = [*fixed, rest * 9 // 20, rest - rest * 9 // 20]
    out = []
    for index, row in enumerate(rows):
        cells = [
            [piece for line in cell.splitlines() for piece in textwrap.wrap(line, w) or [""]]
            for cell, w in zip(row, widths, strict=True)
        ]
        height = max(len(c) for c in cells)
        for i in range(height):
            parts = [
                (c[i] if i < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)
            ]
            out.append("  ".join(parts).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
