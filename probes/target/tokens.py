"""JWTs for probe users, and a deliberately bad one for the auth-rejection check.

The clock is a parameter (``now``, Unix epoch seconds) so tokens are
reproducible in tests. Claims are whole seconds: RFC 7519 allows fractions,
but not every server's JWT library does.
"""

from __future__ import annotations

import os
import secrets

import jwt

from probes.errors import ConfigError
from probes.profiles.model import Profile

AUDIENCE = "agent-chat"
ALGORITHM = "HS256"


def mint_token(
    secret: str,
    user_id: str,
    *,
    audience: str = AUDIENCE,
    ttl_s: float = 600.0,
    now: float,
) -> str:
    """An HS256 token for ``user_id`` (claims ``sub``, ``iat``, ``exp``, ``aud``)."""
    issued = int(now)
    claims = {"sub": user_id, "iat": issued, "exp": int(now + ttl_s), "aud": audience}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def bad_token(user_id: str, *, now: float) -> str:
    """A well-formed, unexpired token signed with a fresh random secret.

    Everything but the signature is right, so a correct server can refuse it
    only by checking the signature, and must answer HTTP 401.
    """
    return mint_token(secrets.token_hex(32), user_id, now=now)


def static_secret(profile: Profile) -> str | None:
    """The static secret of an ``env:NAME`` profile (None for minted JWTs).

    Raises ``ConfigError`` when the variable is not set: a probe that would
    present an empty credential is misconfigured, not a target failure.
    """
    name = profile.auth.env_name
    if name is None:
        return None
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(
            f"profile {profile.name!r}: auth.token: environment variable {name} is not set"
        )
    return value


def wrong_static_secret() -> str:
    """A static secret no server was given (for the bad-token check of ``env:`` profiles)."""
    return "slawatch-wrong-" + secrets.token_urlsafe(24)
