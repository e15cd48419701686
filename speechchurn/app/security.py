"""Access control for the desk: a bearer token (for any non-loopback bind), CSRF double-submit tokens
for every POST, strict response headers.

Token: `speechchurn serve --host 0.0.0.0` refuses to start without `--token` unless it generates one;
requests then need the token as an `Authorization: Bearer` header, the `desk_token` cookie (set by
visiting ``/login?token=...``), and anything else gets 401. CSRF: every page sets a random
`desk_csrf` cookie (SameSite=Strict) and puts the same value in its forms / a meta tag; a POST whose
form field or `X-CSRF-Token` header does not equal the cookie gets 403. Origin: a POST (any method but
GET/HEAD/OPTIONS) whose `Origin` header (or, without one, `Referer`) names another site than the
request's own Host, or the opaque origin `null`, gets 403 whatever cookie and field it carries; the
desk's pages send `Referrer-Policy: same-origin`, so a browser's own POSTs carry their real origin.
A request with neither header (curl, scripts) still needs the CSRF pair.

A token must be at least MIN_TOKEN_CHARS characters without whitespace: `check_token` raises ConfigError.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from speechchurn.errors import ConfigError

TOKEN_COOKIE = "desk_token"
CSRF_COOKIE = "desk_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_BYTES = 24  # random bytes in a generated token / CSRF value
MIN_TOKEN_CHARS = 12  # shortest access token accepted from --token / SPEECHCHURN_TOKEN
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = ("localhost",)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; "
        b"script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def check_token(token: str | None) -> str | None:
    """`token` unchanged when it is usable (None: no token); ConfigError when blank, short or spaced."""
    if token is None:
        return None
    if not token.strip():
        raise ConfigError("--token is blank; give at least 12 characters, or leave it out to get one")
    if any(c.isspace() for c in token) or not token.isprintable():
        raise ConfigError("--token must not contain spaces or control characters")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"--token is too short ({len(token)} characters; at least {MIN_TOKEN_CHARS})")
    return token


def same_origin(headers: dict[bytes, bytes]) -> bool:
    """False when the request's Origin (else Referer) names another host:port than its Host header,
    or is the opaque `null`, or the browser's Sec-Fetch-Site says another site; True when it matches
    or no such header is present."""
    if headers.get(b"sec-fetch-site", b"").lower() in (b"cross-site", b"same-site"):
        return False  # the browser itself says the request comes from another site
    sent = headers.get(b"origin") or headers.get(b"referer")
    if sent is None:
        return True
    try:
        parts = urlsplit(sent.decode("latin-1").strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
        host = urlsplit("//" + headers.get(b"host", b"").decode("latin-1").strip())
        own_port = host.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a malformed URL or port names no origin we know
        return False
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or not host.hostname:
        return False
    return parts.hostname == host.hostname and port == own_port


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
    """ASGI middleware: token check (when a token is set), allowed Host headers, same-origin POSTs,
    security headers."""

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
        if scope["method"] not in SAFE_METHODS and not same_origin(headers):
            return await _plain(send, 403, b"403: cross-site request refused (Origin / Referer)")

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
