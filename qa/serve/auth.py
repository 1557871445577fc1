"""Sign-in for everything the server answers (page, HTTP API, MCP): HTTP Basic, checked by one ASGI middleware.

One check in front of the whole app keeps the three surfaces alike: a request without valid credentials gets
401 with ``WWW-Authenticate: Basic``, so a browser asks for them once and sends them with every request the
page makes, and API and MCP clients send an ``Authorization`` header. Passwords are compared in constant time
and never logged. ``check_exposure`` refuses to serve beyond loopback without sign-in unless asked to.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from qa.errors import ConfigError
from qa.settings import Settings

log = logging.getLogger(__name__)

REALM = "qa"
_DUMMY = b"\0" * 32  # compared against when the user is unknown, so the answer takes as long either way


@dataclass(frozen=True)
class Users:
    """User names and their passwords; ``check`` compares in constant time."""

    passwords: dict[str, str] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.passwords:
            raise ConfigError("sign-in needs at least one USER:PASS")

    @classmethod
    def from_settings(cls, settings: Settings) -> Users | None:
        """The users of ``settings.auth`` and ``settings.auth_file``, or None when neither is set."""
        entries = [e for e in settings.auth.split(",") if e.strip()]
        if settings.auth_file:
            entries += read_users_file(settings.auth_file)
        return cls(parse_users(entries)) if entries else None

    def check(self, user: str, password: str) -> bool:
        known = self.passwords.get(user)
        expected = known.encode("utf-8") if known is not None else _DUMMY
        return hmac.compare_digest(expected, password.encode("utf-8")) and known is not None

    def check_header(self, value: str | None) -> str | None:
        """The user named by a valid ``Authorization: Basic ...`` header value, else None."""
        scheme, _, token = (value or "").partition(" ")
        if scheme.lower() != "basic" or not token:
            return None
        try:
            user, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user if sep and self.check(user, password) else None


def parse_users(entries: Iterable[str]) -> dict[str, str]:
    """``{"USER": "PASS"}`` from ``"USER:PASS"`` entries; the password may hold colons, the name may not."""
    users: dict[str, str] = {}
    for entry in entries:
        user, sep, password = entry.strip().partition(":")
        if not sep or not user or not password:
            shown = f"{user}:..." if sep else "an entry without a colon"
            raise ConfigError(f"sign-in entries must be USER:PASS with neither part empty, got {shown}: "
                              "give --auth USER:PASS (or QA_AUTH), several separated by commas, or a users file")
        users[user] = password
    return users


def read_users_file(path: str | Path) -> list[str]:
    """The USER:PASS lines of a users file; blank lines and lines starting with # are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the users file {str(path)!r} ({exc}): give a UTF-8 file with one "
                          "USER:PASS a line") from exc
    entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not entries:
        raise ConfigError(f"the users file {str(path)!r} holds no USER:PASS line")
    return entries


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, users: Users | None, no_auth: bool) -> None:
    """Refuse to serve on an address other machines can reach without sign-in, unless ``no_auth`` says so."""
    if users is None and not no_auth and not is_loopback(host):
        raise ConfigError(f"refusing to serve on {host} without sign-in: anyone who can reach it could read and "
                          "change the documents. Give --auth USER:PASS (or QA_AUTH, or --auth-file), or pass "
                          "--no-auth (QA_NO_AUTH=1) to serve openly on purpose")
    if users is not None and no_auth:
        log.warning("--no-auth is ignored: sign-in is configured")


class BasicAuthMiddleware:
    """ASGI middleware: HTTP and WebSocket requests need a valid Basic ``Authorization`` header."""

    def __init__(self, app: ASGIApp, users: Users) -> None:
        self.app = app
        self.users = users

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization")
        user = self.users.check_header(header.decode("latin-1") if header else None)
        if user is not None:
            scope["user_name"] = user
            await self.app(scope, receive, send)
            return
        log.info("refused %s %s: %s credentials", scope["type"], scope.get("path"), "wrong" if header else "no")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _send_401(send, bool(header))


async def _send_401(send: Send, had_header: bool) -> None:
    message = ("wrong user name or password" if had_header else "sign-in required") + \
        ": send HTTP Basic credentials (curl -u USER:PASS, or an Authorization: Basic header)"
    body = json.dumps({"error": "unauthorized", "message": message}).encode("utf-8")
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode())]})
    await send({"type": "http.response.body", "body": body})
