"""Support agents' accounts and sign-in sessions.

Passwords are kept only as salted scrypt hashes; session tokens are random 256-bit strings of
which only the sha256 is stored. Accounts come from the database (`python -m assistant agents
add`) or from settings (`web.agent_accounts = "name:<hash>,..."`, hashes from `agents
hash-password`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from assistant.errors import AuthError, InputError
from assistant.store.database import Database
from assistant.store.models import Agent, AgentSession, utcnow

logger = logging.getLogger(__name__)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MIN_PASSWORD_CHARS = 8
# scrypt cost: ~50 ms and 16 MiB per check on this CPU; slows password guessing, not agents.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """A salted scrypt hash in the form ``scrypt$n$r$p$salt$hash`` (base64)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"the password is too short: use at least {MIN_PASSWORD_CHARS} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches a hash made by `hash_password` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_configured_accounts(text: str) -> dict[str, str]:
    """``"alice:scrypt$...,bob:scrypt$..."`` -> {username: hash}; bad entries fail with the reason."""
    accounts: dict[str, str] = {}
    if text.strip().lower() == "none":
        return accounts
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        username, _, stored = entry.partition(":")
        if not USERNAME.match(username) or not stored.startswith("scrypt$"):
            raise InputError(
                f"web.agent_accounts entry {username!r} is not 'name:<hash>'; "
                "make a hash with `python -m assistant agents hash-password`"
            )
        accounts[username] = stored
    return accounts


class AgentAccounts:
    """Creates agents, checks passwords and hands out expiring bearer tokens."""

    def __init__(self, db: Database, *, configured: str = "", session_hours: float = 12.0) -> None:
        self.db = db
        self.configured = parse_configured_accounts(configured)
        self.session_ttl = timedelta(hours=session_hours)

    def add(self, username: str, password: str, *, replace: bool = False) -> None:
        """Create (or with `replace`, reset the password of) an agent account."""
        if not USERNAME.match(username):
            raise InputError(f"{username!r} is not a valid username: use 1-64 of a-z 0-9 _ . - (lower case)")
        hashed = hash_password(password)
        with self.db.session() as session:
            row = session.get(Agent, username)
            if row is not None and not replace:
                raise InputError(f"agent {username!r} exists already; pass --replace to set a new password")
            if row is None:
                session.add(Agent(username=username, password_hash=hashed))
            else:
                row.password_hash = hashed
                session.execute(delete(AgentSession).where(AgentSession.username == username))
            session.commit()

    def remove(self, username: str) -> bool:
        """Delete an account and sign it out everywhere; False if there was none."""
        with self.db.session() as session:
            row = session.get(Agent, username)
            session.execute(delete(AgentSession).where(AgentSession.username == username))
            if row is not None:
                session.delete(row)
            session.commit()
            return row is not None

    def usernames(self) -> list[str]:
        with self.db.session() as session:
            stored = set(session.scalars(select(Agent.username)).all())
        return sorted(stored | set(self.configured))

    def sign_in(self, username: str, password: str) -> str:
        """A new bearer token for a correct username and password; `AuthError` otherwise."""
        stored = self.configured.get(username)
        if stored is None:
            with self.db.session() as session:
                row = session.get(Agent, username)
                stored = row.password_hash if row is not None else None
        # An unknown user costs the same scrypt work as a wrong password (no timing oracle).
        is_valid = verify_password(password, stored or _DUMMY_HASH) and stored is not None
        if not is_valid:
            logger.info("agent sign-in refused")
            raise AuthError("wrong username or password")
        token = secrets.token_urlsafe(32)
        with self.db.session() as session:
            session.add(AgentSession(token_hash=token_hash(token), username=username,
                                     expires_at=utcnow() + self.session_ttl))  # fmt: skip
            session.commit()
        logger.info("agent %s signed in", username)
        return token

    def identify(self, token: str | None) -> str | None:
        """The agent a token belongs to, or None (missing, unknown or expired token)."""
        if not token or len(token) > 200:
            return None
        with self.db.session() as session:
            row = session.get(AgentSession, token_hash(token))
            if row is None:
                return None
            if row.expires_at < utcnow():
                session.delete(row)
                session.commit()
                return None
            return row.username

    def sign_out(self, token: str | None) -> None:
        if not token:
            return
        with self.db.session() as session:
            session.execute(delete(AgentSession).where(AgentSession.token_hash == token_hash(token)))
            session.commit()


_DUMMY_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
