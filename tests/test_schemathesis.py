"""Schemathesis against /openapi.json: no 5xx, every answer matches the schema, bad data refused.

Every operation is fuzzed with every built-in check (the response conformance checks among
them: status codes, content types and bodies as documented), signed in as whoever the
operation is for, then as each other role. Then the stateful phase chains real calls along
the status flow's links (intake → accept → join → complete → rating) and must get to the end. The
number of examples is bounded, and they are the same on every run (derandomized), so CI is
both quick and repeatable; ``PITCREW_FUZZ_EXAMPLES`` searches further."""

from __future__ import annotations

import copy
import itertools
import os
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS as REGISTERED
from schemathesis.checks import load_all_checks
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from pitcrew import auth
from pitcrew.db import Database
from pitcrew.models import Base, Role
from tests.support.factories import PASSWORD, Person

# Addresses at special-use domains (example.test, x.invalid) are refused on purpose: no mail
# reaches them. JSON Schema's "email" format allows them, so generate deliverable-looking ones.
schemathesis.openapi.format("email", st.emails())

STREAMS = ("/api/events",)  # a response that lasts as long as the page: not fuzzable
ACCOUNTS = {"users", "auth_tokens", "account_tokens", "login_failures"}  # kept throughout
MECHANIC_PATHS = ("/api/mechanic/", "/api/me/", "/join", "/complete", "/release")

# PITCREW_FUZZ_EXAMPLES=500 searches further, with fresh random examples on each run.
EXAMPLES_PER_OPERATION = int(os.environ.get("PITCREW_FUZZ_EXAMPLES", "25"))
REPEATABLE = "PITCREW_FUZZ_EXAMPLES" not in os.environ

EXAMPLES = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=REPEATABLE,
    database=None,
)
# As a role the operation is not for, mostly refusals: a few examples show their shape.
AS_OTHERS = settings(EXAMPLES, max_examples=max(3, EXAMPLES_PER_OPERATION // 8))
STATEFUL = settings(
    max_examples=2 * EXAMPLES_PER_OPERATION,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=REPEATABLE,
    database=None,
)


# Schema-valid input refused by design, told by the words of the refusal: text with a NUL
# character (no database pitcrew runs on can store one, so every field refuses it with 422,
# ``schemas.Strict``) and a North American VIN whose check digit does not match (a sum no
# pattern can express); and a dashboard search no schema can tell apart from a good one: a date
# range that ends before it starts, a search of a tab that has none (Incoming, Active), or a
# status filter on Completed (its sessions are all completed).
REFUSED_BY_DESIGN = (
    "NUL",
    "check digit",
    "before its start",
    "Search works in Completed and History",
    "filter by status in History",
)


def positive_data_acceptance_but_by_design(ctx: Any, response: Any, case: Any) -> bool | None:
    """The built-in check, but for the schema-valid input pitcrew refuses by design."""
    if response.status_code == 422:
        message = response.json()["error"]["message"]
        if any(words in message for words in REFUSED_BY_DESIGN):
            return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


CHECKS: dict[str, Any] = {
    "additional_checks": [positive_data_acceptance_but_by_design],
    "excluded_checks": [positive_data_acceptance],
}


# The status flow as OpenAPI links: (source path, its status, link name, target path, how).
SESSION = "/api/sessions/{session_id}"
FLOW_LINKS = [
    ("/api/intake/start", "201", "Accept", "/api/mechanic/accept",
     {"requestBody": {"request_id": "$response.body#/request_id"}}),
    ("/api/mechanic/accept", "200", "Join", f"{SESSION}/join",
     {"parameters": {"session_id": "$response.body#/session_id"}}),
    (f"{SESSION}/join", "200", "Complete", f"{SESSION}/complete",
     {"parameters": {"session_id": "$response.body#/session/id"}}),
    (f"{SESSION}/complete", "200", "Rate", f"{SESSION}/rating",
     {"parameters": {"session_id": "$response.body#/session/id"}}),
]  # fmt: skip


def _with_flow_links(raw: dict[str, Any]) -> dict[str, Any]:
    """The schema with the flow's links, which the stateful phase follows from step to step."""
    raw = copy.deepcopy(raw)
    for source, status, name, target, how in FLOW_LINKS:
        operation_id = raw["paths"][target]["post"]["operationId"]
        answer = raw["paths"][source]["post"]["responses"][status]
        answer.setdefault("links", {})[name] = {"operationId": operation_id, **how}
    return raw


def own_role(path: str) -> Role:
    """Whom an operation is for: an admin's paths, a mechanic's, else a customer's."""
    if path.startswith("/api/admin/"):
        return Role.ADMIN
    return Role.MECHANIC if any(part in path for part in MECHANIC_PATHS) else Role.CUSTOMER


Headers = Callable[[str, str, Role | None], dict[str, str]]


@pytest.fixture
def headers_for(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> Headers:
    """The headers of a call as ``role`` (by default, whoever the operation is for)."""
    people = {Role.CUSTOMER: customer, Role.MECHANIC: mechanic, Role.ADMIN: make_user(Role.ADMIN)}

    def pick(method: str, path: str, role: Role | None = None) -> dict[str, str]:
        person = people[role or own_role(path)]
        if path == "/api/auth/logout":
            # Signing out must not sign the fuzzing clients out: a token of its own each time.
            token, _ = auth.login(db, person.email, PASSWORD, timedelta(minutes=5))
            return {"Authorization": f"Bearer {token}"}
        return {"Authorization": str(person.client.headers["Authorization"])}

    return pick


@pytest.fixture
def api_schema(quick_passwords: None, app: FastAPI) -> OpenApiSchema:
    schema = schemathesis.openapi.from_dict(_with_flow_links(app.openapi()))
    schema.app = app
    schema.location = "/openapi.json"
    served = schema.exclude(path=list(STREAMS))
    assert isinstance(served, OpenApiSchema)
    return served


CONFORMANCE = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


def test_the_response_conformance_checks_are_among_those_run() -> None:
    """``call_and_validate`` runs every registered check but the excluded: these are run."""
    load_all_checks()
    excluded = {check.__name__ for check in CHECKS["excluded_checks"]}
    assert set(CONFORMANCE) <= set(REGISTERED.get_all_names()) - excluded


def fuzz(operation: Any, role: Role, headers_for: Headers) -> None:
    """Hypothesis's examples of one operation, called as ``role``."""

    @(EXAMPLES if role == own_role(operation.path) else AS_OTHERS)
    @given(case=operation.as_strategy())
    def examples(case: Any) -> None:
        case.call_and_validate(headers=headers_for(case.method, case.path, role), **CHECKS)

    examples()


def test_every_operation_with_every_check(api_schema: OpenApiSchema, headers_for: Headers) -> None:
    """Each operation in turn as whoever it is for, then as each other role (a customer, a
    mechanic, an admin) with fewer examples: every answer, refusals included, must be one
    its schema documents. Failures are gathered so one run reports all of them."""
    failures: dict[str, BaseException] = {}
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation the schema cannot describe: {result}"
        operations.append(result.ok())
    assert len(operations) > 20
    for operation, role in itertools.product(operations, Role):
        try:
            fuzz(operation, role, headers_for)
        except (Exception, BaseExceptionGroup) as error:  # reported together below
            failures[f"{operation.label} as {role}"] = error
    assert failures == {}, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())


def test_stateful_phase_from_intake_to_completion(
    db: Database, api_schema: OpenApiSchema, headers_for: Headers
) -> None:
    # The status flow's operations and links only, so a bounded run walks them to the end;
    # bad data is the other test's business: here every step is one a client could mean.
    # The list of saved cars stays in as where an intake's vehicle_id comes from, or the
    # intake would not count as a way in.
    flow_only = api_schema.include(
        path_regex=r"^/api/(intake/start|vehicles|mechanic/accept|sessions/\{session_id\}/"
        r"(join|complete|rating))$"
    )
    flow_only.config.generation.update(modes=[GenerationMode.POSITIVE])
    flow_only.config.phases.stateful.inference.algorithms = []
    machine = flow_only.as_state_machine()
    links = (re.search(r"___\d{3}_(\w+?)__", name) for name in dir(machine))
    followed = {found.group(1) for found in links if found}
    assert followed == {name for _, _, name, _, _ in FLOW_LINKS}

    succeeded: set[str] = set()

    # The machine is a class schemathesis builds at run time, which mypy cannot follow.
    class SignedIn(machine):  # type: ignore[valid-type, misc]
        def setup(self) -> None:
            """Each scenario from no sessions at all, so replaying it replays the same calls."""
            with db.engine.begin() as c:
                for table in reversed(Base.metadata.sorted_tables):
                    if table.name not in ACCOUNTS:
                        c.execute(table.delete())

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers_for(case.method, case.path, None)}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            if response.status_code < 300:
                succeeded.add(case.operation.label)

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, transport_kwargs=kwargs, **CHECKS)

    SignedIn.run(settings=STATEFUL)
    whole_flow = {
        "POST /api/intake/start",
        "POST /api/mechanic/accept",
        "POST /api/sessions/{session_id}/join",
        "POST /api/sessions/{session_id}/complete",
        "POST /api/sessions/{session_id}/rating",
    }
    assert whole_flow <= succeeded, f"never done: {whole_flow - succeeded}"
