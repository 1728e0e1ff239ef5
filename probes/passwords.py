"""The dashboard password: PBKDF2-HMAC-SHA256, stored as one string in the config."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from probes.config import PASSWORD_HASH

ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256


def make_password_hash(password: str, salt: str | None = None, iterations: int = ITERATIONS) -> str:
    """``pbkdf2_sha256$iterations$salt$hash``, the form ``[dashboard] password_hash`` takes."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; constant-time comparison."""
    match = PASSWORD_HASH.fullmatch(stored)
    if not match:
        return False
    iterations, salt, _ = match.groups()
    expected = make_password_hash(password, salt, int(iterations))
    return hmac.compare_digest(expected, stored)
