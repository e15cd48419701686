"""Access control for the desk: a bearer token (for any non-loopback bind), CSRF double-submit tokens
for every POST, strict response headers.

Token: `speechchurn serve --host 0.0.0.0` refuses to start without `--token` unless it generates one;
requests then need the token as an `Authorization: Bearer` header, the `desk_token` cookie (set by
visiting ``/login?token=...``), and anything else gets 401. CSRF: every page sets a random
`desk_csrf` cookie (SameSite=Strict) and puts the same value in its forms / a meta tag; a POST whose
form field or `X-CSRF-Token` header does not equal the cookie gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

TOKEN_COOKIE = "desk_token"
CSRF_COOKIE = "desk_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_BYTES = 24  # random bytes in a generated token / CSRF value
LOOPBACK_NAMES = ("localhost",)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; "
        b"script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar = SimpleCookie()
    try:
        jar.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # noqa: BLE001 - a malformed cookie header is simply no cookie
        return {}
    return {k: m.value for k, m in jar.items()}


class Guard:
    """ASGI middleware: token check (when a token is set), allowed Host headers, security headers."""

    def __init__(self, app, token: str | None, allowed_hosts: tuple[str, ...] | None):
        self.app, self.token, self.allowed_hosts = app, token, allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1").rsplit(":", 1)[0].strip("[]")
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            return await _plain(send, 400, b"bad Host header")
        if self.token and scope["path"] != "/login" and not self._authorised(headers):
            return await _plain(send, 401, b"401: open the login URL printed by `speechchurn serve`")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + list(SECURITY_HEADERS)
            await send(message)

        return await self.app(scope, receive, send_with_headers)

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.startswith("Bearer ") and same(auth[len("Bearer ") :], self.token):
            return True
        return same(_cookies(headers).get(TOKEN_COOKIE), self.token)


async def _plain(send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})
