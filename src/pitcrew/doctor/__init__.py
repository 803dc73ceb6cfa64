"""``pitcrew doctor``: find where requests and sessions disagree, and repair what is certain.

It works on a pitcrew database and on one of the system pitcrew replaces (the three tables
with the same names and columns, no constraints, no ``users``), because that is where
orphaned sessions were born. A dry run only reads; ``--apply`` repairs in one transaction,
each change guarded by the state it was planned from and recorded with its before and after.
The invariants it keeps are those of docs/ARCHITECTURE.md, section "Invariants".

The parts, in the order a run goes through them: ``shape`` (which database this is),
``diagnosis`` (the problems and their planned repairs, using the pair rules of ``rules``),
``media`` (stored photos against the messages that name them), ``repair``
(the dry run and ``--apply``), ``output`` (the table, summary and JSON).
"""

from pitcrew.doctor.diagnosis import LINK_WINDOW, diagnose
from pitcrew.doctor.output import as_json, render, summary
from pitcrew.doctor.problems import Change, Problem, Report
from pitcrew.doctor.repair import REPAIRS, RepairRaced, apply, check, plan_digest
from pitcrew.doctor.rules import Fix, Unsure, agree, breaks
from pitcrew.doctor.shape import Shape, Unrecognized

__all__ = [
    "LINK_WINDOW",
    "REPAIRS",
    "Change",
    "Fix",
    "Problem",
    "RepairRaced",
    "Report",
    "Shape",
    "Unrecognized",
    "Unsure",
    "agree",
    "apply",
    "as_json",
    "breaks",
    "check",
    "diagnose",
    "plan_digest",
    "render",
    "summary",
]
