"""Headers that make every response safe to show in a browser, whatever the route forgot.

The policy allows scripts, styles and connections from this server only, never inline
script, so an injected ``<script>`` does not run even if escaping failed somewhere. The
interactive API docs (``/docs``, ``/redoc``) run their viewers from this server too, but the
viewers style themselves with inline styles and ReDoc searches in a worker it makes from a
``blob:``; those pages alone get a policy that allows that, and they show no user data.

Behind an HTTPS proxy (``X-Forwarded-Proto: https``, or a server that terminates TLS
itself), every cookie is marked ``Secure`` and the browser is told to stay on HTTPS.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from pitcrew.asgi import HttpMiddleware, on_response_start

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)

DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

DOCS_PATHS = ("/docs", "/redoc")

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=()",
}

HSTS = "max-age=31536000; includeSubDomains"


def is_https(scope: Scope) -> bool:
    """Whether the browser reached us over HTTPS, directly or through a proxy that says so."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    for name, value in scope.get("headers") or []:
        if name == b"x-forwarded-proto":
            first: bytes = value.split(b",")[0]
            return first.strip().lower() == b"https"
    return False


class SecurityHeaders(HttpMiddleware):
    """Add the security headers to every HTTP response, and ``Secure`` to cookies on HTTPS."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        policy = DOCS_CONTENT_SECURITY_POLICY if path in DOCS_PATHS else CONTENT_SECURITY_POLICY
        https = is_https(scope)

        def add_headers(start: Message) -> None:
            headers = MutableHeaders(scope=start)
            headers.setdefault("Content-Security-Policy", policy)
            for name, value in HEADERS.items():
                headers.setdefault(name, value)
            if https:
                headers.setdefault("Strict-Transport-Security", HSTS)
                _secure_cookies(headers)

        await self.app(scope, receive, on_response_start(send, add_headers))


def _secure_cookies(headers: MutableHeaders) -> None:
    cookies = headers.getlist("set-cookie")
    if not cookies:
        return
    del headers["set-cookie"]
    for cookie in cookies:
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        headers.append("set-cookie", cookie if "secure" in attributes else f"{cookie}; Secure")
