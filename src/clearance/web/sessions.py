"""Web sign-in: an API token exchanged for a session cookie, and the CSRF token of each form.

The session lives in the cookie, encrypted and authenticated (Fernet: AES-CBC + HMAC) with a
key kept in the workspace (``.clearance/web-session.key``, mode 0600), so every worker process
of ``clearance serve`` reads every session and a restart signs nobody out. The cookie holds the
API token the user signed in with; each request signs in with it again, so a revoked token or a
disabled user is refused from the next page on, exactly as on the API. Fernet's timestamp bounds
the session: after ``SESSION_SECONDS`` it no longer decrypts and the browser is sent to sign in.
Signing out clears the cookie; revoke the API token to end a copied cookie before it expires.

CSRF: a synchronizer token per session, HMAC(key, session id), in a hidden field of every
form and checked on every POST; the sign-in form (no session yet) uses a double-submit cookie.
Cookies are HttpOnly and SameSite=Strict, and Secure behind TLS (``X-Forwarded-Proto: https``
from the proxy in front counts as TLS).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

from clearance.errors import InputError

COOKIE = "clearance_session"
SIGNIN_COOKIE = "clearance_signin"  # the sign-in form's double-submit CSRF value
KEY_FILE = "web-session.key"
SESSION_SECONDS = 8 * 3600
MAX_COOKIE = 4096  # browsers keep no more; anything longer is not ours


@dataclass(frozen=True)
class Session:
    token: str  # the API token the user signed in with
    sid: str  # random per sign-in: what the CSRF token is bound to
    csrf: str


class SessionKeeper:
    """Makes and reads session cookies and CSRF tokens with the workspace's web key."""

    def __init__(self, home: Path, seconds: int = SESSION_SECONDS) -> None:
        self.key = load_key(home / KEY_FILE)
        self.fernet = Fernet(self.key)
        self.seconds = seconds

    def csrf_for(self, sid: str) -> str:
        return hmac.new(self.key, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()

    def issue(self, token: str, *, at: int | None = None) -> str:
        """A new session's cookie value (``at``: its time, in seconds since the epoch)."""
        body = json.dumps({"t": token, "s": secrets.token_urlsafe(18)}).encode()
        made = self.fernet.encrypt(body) if at is None else self.fernet.encrypt_at_time(body, at)
        return made.decode()

    def read(self, request: Request) -> Session | None:
        """The request's session; None when there is none, it was tampered with or expired."""
        raw = request.cookies.get(COOKIE, "")
        if not raw or len(raw) > MAX_COOKIE:
            return None
        try:
            body = json.loads(self.fernet.decrypt(raw.encode(), ttl=self.seconds))
        except (InvalidToken, ValueError):
            return None
        token, sid = body.get("t"), body.get("s")
        if not isinstance(token, str) or not isinstance(sid, str):
            return None
        return Session(token=token, sid=sid, csrf=self.csrf_for(sid))

    def csrf_ok(self, session: Session, presented: str) -> bool:
        return hmac.compare_digest(session.csrf.encode(), presented.encode())


def secure(request: Request) -> bool:
    """Whether the browser reached us over TLS (directly or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure(request))


def new_signin_value() -> str:
    return secrets.token_urlsafe(24)


def load_key(path: Path) -> bytes:
    """The web session key: made once (0600), refused when others may read it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InputError(
                f"{path}: the web session key must be readable by its owner only "
                f"(mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`"
            ) from None
        key = path.read_bytes().strip()
        try:
            Fernet(key)
        except ValueError as exc:
            raise InputError(
                f"{path}: not a web session key ({exc}); delete it to make one"
            ) from None
        return key
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
    return key
