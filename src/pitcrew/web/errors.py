"""Every error leaves the server as one JSON shape: {"error": {"code", "message"}}.

Each also carries ``request_id``, the id of the request's log line (see ``request_log``).

Only a person's browser asking for a page at an address that has none (or that does not take
the method) gets the styled error page instead; everything under /api/ stays JSON.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from pitcrew.errors import DomainError
from pitcrew.schemas import RatingIn, Vehicle
from pitcrew.web import pages
from pitcrew.web.request_log import current_request_id


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None
    request_id: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    words = {
        400: "Bad request",
        401: "Not signed in",
        403: "Not yours, or not your role",
        404: "Unknown id",
        409: "Conflicts with the current state",
        413: "Request body too large",
        422: "Invalid input",
        429: "Too many attempts",
        503: "Busy or briefly unavailable: try again after Retry-After seconds",
    }
    return {c: {"model": ErrorOut, "description": words[c]} for c in codes}


def file_of(*types: str) -> dict[int | str, dict[str, Any]]:
    """A 200 whose body is a file (a photo, a PDF) of one of ``types``: bytes to a client."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"content": {t: binary for t in types}}}


COMMON = _responses(401, 403, 413, 422)
ON_SESSION = _responses(401, 403, 404, 409, 413, 422)
# A read of one thing the caller may not see, or that does not exist.
READ_ONE = _responses(401, 403, 404, 422)


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    return JSONResponse({"error": body}, status_code=status)


# --- validation errors in a person's words ----------------------------------------------
#
# A client gets each problem as {"field", "problem"} in ``details`` and the first one as the
# ``message``; pages show either to a person, so none of it is the validation library's text.
# WORDS is the one table of those sentences, keyed by (field, constraint): a field with the
# constraint it broke, a field alone (ANY: what to ask for whenever the value is missing or
# not what the field takes), a constraint alone (ANY field, named by ``{noun}``). The most
# precise key that exists wins. ``{min_length}`` and the like are the schema's own limits,
# from the error's context or the JSON schema (``{year_min}``).

ANY = "*"

WORDS: dict[tuple[str, str], str] = {
    # a field and the constraint it broke
    ("password", "string_too_short"): "Choose a password of at least {min_length} characters",
    ("password", "missing"): "Enter a password",
    ("issue_description", "string_too_short"): "Describe the problem in a few words",
    ("year", "missing"): "Enter the car's model year, like 2016",
    # a field, whatever is wrong with it
    ("issue_description", ANY): "Describe the problem",
    ("name", ANY): "Enter your name",
    ("email", ANY): "Enter an email address like name@example.com",
    ("summary", ANY): "Write a summary of what you found",
    ("body", ANY): "Write a message first",
    ("vehicle", ANY): "Enter the car's year, make and model",
    ("year", ANY): "Enter a year between {year_min} and {year_max}",
    ("make", ANY): "Enter the make of the car, like Honda",
    ("model", ANY): "Enter the model of the car, like Civic",
    ("vin", ANY): "A VIN has 17 letters and digits (never I, O or Q)",
    ("vehicle_id", ANY): "Choose one of your cars, or describe a new one",
    ("mileage", ANY): "Enter the mileage as a whole number from {mileage_min} to {mileage_max:,}",
    ("rating", ANY): "Choose a rating from {rating_min} to {rating_max}",
    ("session_type", ANY): "Choose chat or video",
    ("plan_code", ANY): "Choose a plan",
    ("photo", ANY): "Choose a photo to send",
    ("findings", ANY): "Write what you found as text",
    ("text", ANY): "Describe the step",
    ("urgency", ANY): "Choose how soon: now, soon or can wait",
    ("cost_min", ANY): "Enter the cost as a whole number from 0 to 1,000,000",
    ("cost_max", ANY): "Enter the cost as a whole number from 0 to 1,000,000",
    ("trouble_codes", ANY): "Enter trouble codes like P0301, separated by spaces or commas",
    ("photo_ids", ANY): "Choose photos from this session's chat",
    ("on_duty", ANY): "Use true or false",
    ("enabled", ANY): "Use true or false",
    ("token", ANY): "This link is incomplete: open it again from the email",
    # a constraint, on any field
    (ANY, "missing"): "Enter the {noun}",
    (ANY, "string_type"): "Enter the {noun} as text",
    (ANY, "string_too_short"): "Enter at least {min_length} characters for the {noun}",
    (ANY, "string_too_long"): "Keep the {noun} to {max_length:,} characters or fewer",
    (ANY, "string_pattern_mismatch"): "Check the {noun}: it is not in the expected form",
    (ANY, "too_short"): "Give at least {min_length} items for the {noun}",
    (ANY, "too_long"): "Give at most {max_length} items for the {noun}",
    (ANY, "bool_type"): "Use true or false",
    (ANY, "bool_parsing"): "Use true or false",
    (ANY, "int_type"): "Enter the {noun} as a whole number",
    (ANY, "int_parsing"): "Enter the {noun} as a whole number",
    (ANY, "int_from_float"): "Enter the {noun} as a whole number",
    (ANY, "float_type"): "Enter the {noun} as a number",
    (ANY, "float_parsing"): "Enter the {noun} as a number",
    (ANY, "greater_than"): "Enter a {noun} greater than {gt}",
    (ANY, "greater_than_equal"): "Enter a {noun} of at least {ge}",
    (ANY, "less_than"): "Enter a {noun} less than {lt}",
    (ANY, "less_than_equal"): "Enter a {noun} of at most {le}",
    (ANY, "uuid_type"): "That is not a valid {noun}",
    (ANY, "uuid_parsing"): "That is not a valid {noun}",
    (ANY, "enum"): "Choose {expected}",
    (ANY, "literal_error"): "Choose {expected}",
    (ANY, "date_type"): "Enter a date like 2026-12-01",
    (ANY, "date_parsing"): "Enter a date like 2026-12-01",
    (ANY, "date_from_datetime_parsing"): "Enter a date like 2026-12-01",
    (ANY, "datetime_type"): "Enter a date and time like 2026-12-01T09:30:00Z",
    (ANY, "datetime_parsing"): "Enter a date and time like 2026-12-01T09:30:00Z",
    (ANY, "datetime_from_date_parsing"): "Enter a date and time like 2026-12-01T09:30:00Z",
    (ANY, "timezone_aware"): "Give the time with its time zone, like 2026-12-01T09:30:00Z",
    (ANY, "dict_type"): "Send the {noun} as an object",
    (ANY, "model_type"): "Send the {noun} as an object",
    (ANY, "model_attributes_type"): "Send the {noun} as an object",
    (ANY, "list_type"): "Send the {noun} as a list",
    (ANY, "url_parsing"): "Enter a web address like https://example.com",
    (ANY, "url_type"): "Enter a web address like https://example.com",
}

# How the general sentences name a field, where its name is not already the word.
NOUNS: dict[str, str] = {
    "issue_description": "description of the problem",
    "body": "message",
    "vin": "VIN",
    "q": "search",
    "since": "first day",
    "until": "last day",
    "email": "email address",
    "steps": "recommended steps",
    "trouble_codes": "trouble codes",
    "photo_ids": "chosen photos",
}

# Errors about the value's size say so even where the field has its own question.
_SIZE = {"string_too_long", "too_long"}
_OBJECT_TYPES = ("dict_type", "model_type", "model_attributes_type")
NOT_JSON = "The request body is not valid JSON"
NOT_AN_OBJECT = "Send the request body as a JSON object"


def _limits() -> dict[str, int]:
    """The ranges WORDS names, read from the JSON schema clients see, so a changed limit
    changes the words."""
    found: dict[str, int] = {}
    for model, field in ((Vehicle, "year"), (Vehicle, "mileage"), (RatingIn, "rating")):
        schema = model.model_json_schema()["properties"][field]
        for option in schema.get("anyOf", [schema]):  # an optional field: number or null
            if "minimum" in option:
                found[f"{field}_min"] = option["minimum"]
            if "maximum" in option:
                found[f"{field}_max"] = option["maximum"]
    return found


_LIMITS = _limits()


def _noun(source: str, path: list[str]) -> str:
    name = path[-1] if path else source
    if source == "header":
        return "-".join(part.capitalize() for part in name.split("-")) + " header"
    return NOUNS.get(name, name.replace("_", " "))


def _fill(template: str, values: dict[str, Any]) -> str:
    try:
        return template.format_map(values)
    except (KeyError, ValueError, IndexError):  # a context without the expected limit
        return f"Check the {values['noun']}"


def problem_words(error: dict[str, Any]) -> tuple[str, str]:
    """One validation error as (field, sentence): where it is, and what a person should do."""
    source, *rest = [str(part) for part in error.get("loc", ()) or ("body",)]
    # "body" first means the JSON body; a field may be called "body" too (a chat line).
    path = [p for p in rest if not p.isdigit()]
    field = ".".join(rest if source == "body" else [source, *rest]) or "body"
    kind = str(error.get("type", ""))
    context = dict(error.get("ctx") or {})
    if kind == "string_too_short" and context.get("min_length") == 1:
        kind = "missing"  # an empty answer is no answer
    name = path[-1] if path else ""
    if kind in ("json_invalid", "json_type"):
        return "body", NOT_JSON
    if kind == "extra_forbidden":
        return field, f"Unknown field: {field}"
    if source == "body" and not path and kind in ("missing", *_OBJECT_TYPES):
        return "body", NOT_AN_OBJECT
    if kind == "value_error" and isinstance(context.get("error"), ValueError):
        return field, str(context["error"]).rstrip(".")  # our validators speak for themselves
    values = {**_LIMITS, **context, "noun": _noun(source, path)}
    for template in (
        WORDS.get((name, kind)),
        None if kind in _SIZE else WORDS.get((name, ANY)),
        WORDS.get((ANY, kind)),
    ):
        if template is not None:
            return field, _fill(template, values)
    return field, _fill("Check the {noun}", values)


def _describe(errors: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    details = []
    for e in errors:
        field, problem = problem_words(e)
        details.append({"field": field, "problem": problem})
    message = details[0]["problem"] if details else "Check what you sent"
    return message, details


# --- errors as pages -----------------------------------------------------------------------

# Statuses a browser may reach by following a link or typing a URL, as the styled page says them.
PAGE_WORDS: dict[int, tuple[str, str]] = {
    404: ("Not found", "There is nothing here. Check the link."),
    405: ("Not allowed here", "This address cannot do that. Go back and try from the page."),
}


def wants_page(request: Request) -> bool:
    """Whether to answer with a page rather than JSON: a browser asking for HTML outside /api/.

    A client that asks for JSON (or for anything, as programs do) keeps the JSON error shape.
    """
    path = request.url.path
    if path == "/api" or path.startswith("/api/"):
        return False
    weights = _accept_weights(request.headers.get("accept", ""))
    html = max(weights.get("text/html", 0.0), weights.get("application/xhtml+xml", 0.0))
    return html > 0 and html > weights.get("application/json", 0.0)


def _accept_weights(accept: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if media:
            weights[media.lower()] = weight
    return weights


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message)
        retry_after = getattr(exc, "retry_after", None)  # a throttled sign-in says when
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, details = _describe(list(exc.errors()))
        return error_response(422, "invalid", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # A body that is not even text: the same answer as any other body that is not JSON.
            return error_response(
                422, "invalid", NOT_JSON, [{"field": "body", "problem": NOT_JSON}]
            )
        response: Response
        title, words = PAGE_WORDS.get(exc.status_code, ("", ""))
        if words and wants_page(request):
            response = await run_in_threadpool(
                pages.error_page, request, exc.status_code, title, words
            )
        else:
            # Starlette's bare "Not Found" becomes the page's sentence; a route's own words stay.
            said = str(exc.detail)
            message = words if words and said == HTTPStatus(exc.status_code).phrase else said
            response = error_response(
                exc.status_code, codes.get(exc.status_code, "http_error"), message
            )
        response.headers.update(exc.headers or {})  # a 405 says what is allowed (Allow)
        return response

    @app.exception_handler(DataError)
    async def _unstorable(_request: Request, exc: DataError) -> JSONResponse:
        """Input the database cannot hold that no schema caught: bad input, not a crash."""
        logging.getLogger("pitcrew.web").warning("input the database refused: %s", exc.orig)
        return error_response(422, "invalid", "That input cannot be stored.")

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
        """The database went away (a restart, a failover) or stayed busy past every retry.

        A 503 with Retry-After, not a 500: the server recovers by itself (its pool checks each
        connection before use), and a retried accept or keyed intake is answered as before.
        """
        logging.getLogger("pitcrew.web").warning("database unavailable: %s", exc)
        response = error_response(
            503, "unavailable", "The service is briefly unavailable. Try again in a moment."
        )
        response.headers["Retry-After"] = "1"
        return response
