"""Every error leaves the server as DESIGN's JSON shape: {"error": {"code", "message"}}.

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
from pitcrew.web import pages


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


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
    }
    return {c: {"model": ErrorOut, "description": words[c]} for c in codes}


COMMON = _responses(401, 403, 413, 422)
ON_SESSION = _responses(401, 403, 404, 409, 413, 422)


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def _describe(errors: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    details = []
    for e in errors:
        # "body" first means the JSON body; a field may be called "body" too (a chat line).
        source, *path = e.get("loc", ()) or ("",)
        where = ".".join(str(p) for p in (path if source == "body" else [source, *path]))
        problem = e.get("msg", "")
        if e.get("type") == "json_invalid":
            where, problem = "body", f"not valid JSON ({e.get('ctx', {}).get('error', '')})"
        details.append({"field": where or "body", "problem": problem})
    first = details[0] if details else {"field": "", "problem": "invalid input"}
    message = f"{first['field']}: {first['problem']}" if first["field"] else first["problem"]
    if first["problem"] == "Extra inputs are not permitted":
        message = f"Unknown field: {first['field']}"
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
            problem = "not valid JSON (not UTF-8 text)"
            return error_response(
                422, "invalid", f"body: {problem}", [{"field": "body", "problem": problem}]
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
