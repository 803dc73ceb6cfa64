"""A wrong address gives a browser the styled error page, and a program the JSON error shape.

A browser asks for HTML (``Accept: text/html,...``); a program asks for JSON or for anything
(``*/*``), and everything under ``/api/`` is for programs whatever they ask for.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import Person

# What Chromium sends when a person follows a link or types an address.
BROWSER = {
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
}
PROGRAMS = [
    {},
    {"accept": "application/json"},
    {"accept": "*/*"},
    {"accept": "application/json, text/html;q=0.5"},
]


def _check_page(answer: Any, status: int, title: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in answer.text
    assert "/static/app.css" in answer.text  # styled like every page


def _check_json_error(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["message"] not in ("Not Found", "Method Not Allowed")


@pytest.mark.parametrize("path", ["/nope", "/sessions/x/y/z", "/mechanic/nothing", "/static"])
def test_an_unknown_page_is_the_styled_404_for_a_browser(anonymous: TestClient, path: str) -> None:
    answer = anonymous.get(path, headers=BROWSER)
    _check_page(answer, 404, "Not found")
    assert "There is nothing here. Check the link." in answer.text
    assert ">Sign in</a>" in answer.text  # nobody is signed in: the way in, not a home


def test_the_404_page_knows_who_is_signed_in(customer: Person) -> None:
    answer = customer.client.get("/nope", headers=BROWSER)
    _check_page(answer, 404, "Not found")
    assert "Casey Driver" in answer.text
    assert ">Back to your home</a>" in answer.text


@pytest.mark.parametrize("headers", PROGRAMS)
def test_programs_keep_the_json_404(anonymous: TestClient, headers: dict[str, str]) -> None:
    _check_json_error(anonymous.get("/nope", headers=headers), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/nope", "/api", "/api/sessions/x/y/z"])
def test_api_addresses_answer_json_even_to_a_browser(anonymous: TestClient, path: str) -> None:
    _check_json_error(anonymous.get(path, headers=BROWSER), 404, "not_found")


def test_a_page_that_does_not_take_the_method_is_the_styled_405(anonymous: TestClient) -> None:
    answer = anonymous.post("/intake", headers=BROWSER)
    _check_page(answer, 405, "Not allowed here")
    assert answer.headers["allow"] == "GET"


def test_programs_and_the_api_keep_the_json_405(anonymous: TestClient) -> None:
    for headers in PROGRAMS:
        answer = anonymous.post("/intake", headers=headers)
        _check_json_error(answer, 405, "method_not_allowed")
        assert answer.headers["allow"] == "GET"
    answer = anonymous.get("/api/mechanic/accept", headers=BROWSER)
    _check_json_error(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == "POST"


def test_the_error_page_keeps_the_page_policy(anonymous: TestClient) -> None:
    answer = anonymous.get("/nope", headers=BROWSER)
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "unsafe-inline" not in answer.headers["content-security-policy"]
