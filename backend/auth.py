"""JWT verification and issuing for the agent-chat handshake.

The algorithm is pinned by configuration (HS256 with a shared secret, or
RS256/ES256 with a public key); every rejection maps to one short, stable
reason string that the server puts in its 401 body.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms
from jwt.exceptions import InvalidSubjectError

AUDIENCE = "agent-chat"
SECRET_ENV = "SLAWATCH_JWT_SECRET"
MIN_SECRET_BYTES = 32
MAX_LEEWAY_S = 30.0
ALGORITHMS = ("HS256", "RS256", "ES256")
REQUIRED_CLAIMS = ("sub", "exp", "iat", "aud")
MAX_SUBJECT_CHARS = 256
SUBPROTOCOL_TOKEN_PREFIX = "bearer."

# Most specific first: InvalidSignatureError is a DecodeError, for instance.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.ImmatureSignatureError, "not yet valid"),
    (InvalidSubjectError, "invalid claim: sub"),
)


class AuthError(Exception):
    """A token was refused; `reason` is the short stable text sent to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(ValueError):
    """The JWT configuration cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for, and until when (epoch seconds)."""

    user_id: str
    expires_at: float


@dataclass(frozen=True)
class TokenVerifier:
    """Verifies tokens with one pinned algorithm and key."""

    key: str
    algorithm: str = "HS256"
    leeway_s: float = 10.0

    def __post_init__(self) -> None:
        check_settings(self.key, self.algorithm, self.leeway_s)

    def verify(self, token: str | None) -> Identity:
        """Return the token's identity or raise `AuthError` with a stable reason."""
        if not token:
            raise AuthError("missing token")
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                audience=AUDIENCE,
                leeway=self.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"missing claim: {exc.claim}") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(_reason(exc)) from None
        return _identity(claims)


def _reason(exc: Exception) -> str:
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "malformed token"


def _identity(claims: Mapping[str, Any]) -> Identity:
    subject = claims["sub"]
    if not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise AuthError("invalid claim: sub")
    return Identity(user_id=subject, expires_at=float(claims["exp"]))


def check_settings(key: str, algorithm: str, leeway_s: float) -> None:
    """Refuse an unusable algorithm, leeway or key, saying what to change."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"jwt algorithm must be one of {', '.join(ALGORITHMS)}")
    if not 0.0 <= leeway_s <= MAX_LEEWAY_S:
        raise ConfigError(f"jwt leeway must be between 0 and {MAX_LEEWAY_S:g} seconds")
    if algorithm == "HS256":
        check_secret(key)
    else:
        check_public_key(key, algorithm)


def check_secret(secret: str) -> None:
    """Refuse HS256 secrets shorter than 32 bytes, saying how to make a good one."""
    size = len(secret.encode())
    if size < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{SECRET_ENV} must be at least {MIN_SECRET_BYTES} bytes (got {size}); "
            "make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )


def check_public_key(pem: str, algorithm: str) -> None:
    """Refuse a public key that does not fit the configured algorithm."""
    try:
        get_default_algorithms()[algorithm].prepare_key(pem)
    except (jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"the public key does not fit {algorithm}: {exc}") from None


def load_public_key(path: Path, algorithm: str) -> str:
    """Read a PEM public key file and check it fits `algorithm`."""
    try:
        pem = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the public key file {path}: {exc.strerror}") from None
    check_public_key(pem, algorithm)
    return pem


def secret_from_env(environ: Mapping[str, str]) -> str | None:
    """The HS256 secret from the environment, checked; None when unset."""
    secret = environ.get(SECRET_ENV)
    if secret is None:
        return None
    check_secret(secret)
    return secret


def generate_secret() -> str:
    """A fresh random HS256 secret for a server started without one."""
    return secrets.token_urlsafe(48)


def token_hint(secret: str) -> str:
    """What to tell an operator whose server generated its own secret."""
    return (
        f"{SECRET_ENV} is not set; this server generated a random secret.\n"
        "To mint a token for it, run in another shell:\n"
        f"  export {SECRET_ENV}={secret}\n"
        "  slawatch token --user NAME"
    )


def issue_token(
    key: str,
    sub: str,
    ttl_s: float = 3600.0,
    *,
    aud: str = AUDIENCE,
    algorithm: str = "HS256",
    now: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Mint a token (tests and `slawatch token`); `key` is a secret or a PEM private key."""
    issued = time.time() if now is None else now
    claims: dict[str, Any] = {"sub": sub, "aud": aud, "iat": int(issued), "exp": issued + ttl_s}
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm=algorithm)


def request_token(
    authorization: str | None, offered: list[str], *, use_header: bool = True
) -> str | None:
    """The token from `Authorization: Bearer` (first) or a `bearer.<token>` subprotocol.

    `use_header=False` ignores the header, as a proxy that strips it would.
    """
    if use_header and authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise AuthError("malformed token")
        return token.strip()
    for item in offered:
        if item.startswith(SUBPROTOCOL_TOKEN_PREFIX):
            return item[len(SUBPROTOCOL_TOKEN_PREFIX) :]
    return None
