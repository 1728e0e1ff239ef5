"""Handshake authentication: both ways in, every refusal a 401 with a stable reason."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from backend.auth import (
    AuthError,
    ConfigError,
    TokenVerifier,
    issue_token,
    request_token,
    secret_from_env,
    token_hint,
)
from backend.config import BackendConfig
from backend.server import RunningBackend

SECRET = "test-secret-" + "x" * 64


def _claims(**overrides: Any) -> dict[str, Any]:
    now = time.time()
    claims: dict[str, Any] = {"sub": "alice", "aud": "agent-chat", "iat": int(now), "exp": now + 60}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


BAD_TOKENS: list[tuple[str, Callable[[], str], str]] = [
    ("bad signature", lambda: issue_token("another-secret-" + "y" * 64, "alice"), "bad signature"),
    ("expired", lambda: issue_token(SECRET, "alice", -30), "expired"),
    ("wrong audience", lambda: issue_token(SECRET, "alice", aud="billing"), "wrong audience"),
    ("alg none", lambda: jwt.encode(_claims(), "", algorithm="none"), "algorithm not allowed"),
    ("wrong alg", lambda: issue_token(SECRET, "alice", algorithm="HS512"), "algorithm not allowed"),
    ("not a jwt", lambda: "not-a-token", "malformed token"),
    ("no sub", lambda: jwt.encode(_claims(sub=None), SECRET), "missing claim: sub"),
    ("no exp", lambda: jwt.encode(_claims(exp=None), SECRET), "missing claim: exp"),
    ("no iat", lambda: jwt.encode(_claims(iat=None), SECRET), "missing claim: iat"),
    ("no aud", lambda: jwt.encode(_claims(aud=None), SECRET), "missing claim: aud"),
    ("numeric sub", lambda: jwt.encode(_claims(sub=42), SECRET), "invalid claim: sub"),
    (
        "issued later",
        lambda: jwt.encode(_claims(iat=int(time.time()) + 3600), SECRET),
        "not yet valid",
    ),
]


@pytest.mark.parametrize(("case", "make", "reason"), BAD_TOKENS, ids=[c[0] for c in BAD_TOKENS])
def test_verifier_names_the_reason(case: str, make: Callable[[], str], reason: str) -> None:
    with pytest.raises(AuthError) as caught:
        TokenVerifier(SECRET, leeway_s=0).verify(make())
    assert caught.value.reason == reason


def test_verifier_accepts_a_good_token_and_reports_its_expiry() -> None:
    now = time.time()
    identity = TokenVerifier(SECRET).verify(issue_token(SECRET, "alice", 60, now=now))
    assert identity.user_id == "alice"
    assert identity.expires_at == pytest.approx(now + 60)


def test_leeway_accepts_a_token_expired_moments_ago() -> None:
    token = issue_token(SECRET, "alice", -5)
    assert TokenVerifier(SECRET, leeway_s=10).verify(token).user_id == "alice"


@pytest.mark.parametrize(
    ("key", "algorithm", "leeway", "message"),
    [
        ("short", "HS256", 10, "SLAWATCH_JWT_SECRET must be at least 32 bytes (got 5)"),
        (SECRET, "HS384", 10, "jwt algorithm must be one of HS256, RS256, ES256"),
        (SECRET, "HS256", 31, "jwt leeway must be between 0 and 30 seconds"),
        (SECRET, "RS256", 10, "the public key does not fit RS256"),
    ],
)
def test_unusable_jwt_settings_stop_start_up(
    key: str, algorithm: str, leeway: float, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TokenVerifier(key, algorithm, leeway)


def test_secret_comes_only_from_the_environment() -> None:
    assert secret_from_env({}) is None
    assert secret_from_env({"SLAWATCH_JWT_SECRET": SECRET}) == SECRET
    with pytest.raises(ConfigError):
        secret_from_env({"SLAWATCH_JWT_SECRET": "too-short"})
    assert "export SLAWATCH_JWT_SECRET=abc" in token_hint("abc")
    assert "slawatch token --user NAME" in token_hint("abc")


@pytest.mark.parametrize(
    ("authorization", "offered", "use_header", "expected"),
    [
        ("Bearer abc", [], True, "abc"),
        ("bearer abc", ["agent-chat.v1", "bearer.zzz"], True, "abc"),
        (None, ["agent-chat.v1", "bearer.zzz"], True, "zzz"),
        ("Bearer abc", ["agent-chat.v1", "bearer.zzz"], False, "zzz"),
        ("Bearer abc", [], False, None),
        (None, [], True, None),
    ],
)
def test_token_comes_from_header_first_then_subprotocol(
    authorization: str | None, offered: list[str], use_header: bool, expected: str | None
) -> None:
    assert request_token(authorization, offered, use_header=use_header) == expected


def test_non_bearer_authorization_is_malformed() -> None:
    with pytest.raises(AuthError, match="malformed token"):
        request_token("Basic dXNlcjpwdw==", [])


async def _refusal(srv: RunningBackend, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(srv.url, proxy=None, **kwargs):
            pass
    response = caught.value.response
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.body)


@pytest.mark.asyncio
@pytest.mark.parametrize("via", ["header", "subprotocol"])
@pytest.mark.parametrize(("case", "make", "reason"), BAD_TOKENS, ids=[c[0] for c in BAD_TOKENS])
async def test_bad_tokens_get_401_with_the_reason(
    backend: RunningBackend, via: str, case: str, make: Callable[[], str], reason: str
) -> None:
    token = make()
    kwargs: dict[str, Any] = (
        {"additional_headers": {"Authorization": f"Bearer {token}"}}
        if via == "header"
        else {"subprotocols": ["agent-chat.v1", f"bearer.{token}"]}
    )
    assert await _refusal(backend, **kwargs) == (401, {"error": "unauthorized", "reason": reason})


@pytest.mark.asyncio
async def test_no_token_gets_401_missing_token(backend: RunningBackend) -> None:
    assert await _refusal(backend) == (401, {"error": "unauthorized", "reason": "missing token"})
    assert len(backend.peers) == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("via", ["header", "subprotocol"])
async def test_good_token_opens_a_session_either_way(
    users: Any, run_chat: Any, complete: Any, via: str
) -> None:
    ws = await users.connect("alice", via=via)
    assert ws.subprotocol == ("agent-chat.v1" if via == "subprotocol" else None)
    complete(await run_chat(ws, "hello"), "alice")


def _key_pair(algorithm: str) -> tuple[str, str]:
    private: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@pytest.mark.asyncio
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_public_key_algorithms_accept_their_tokens_only(
    config: BackendConfig, start: Any, run_chat: Any, complete: Any, tmp_path: Path, algorithm: str
) -> None:
    private_pem, public_pem = _key_pair(algorithm)
    async with start(config, jwt_key=public_pem, jwt_alg=algorithm) as srv:
        good = issue_token(private_pem, "alice", algorithm=algorithm)
        async with connect(
            srv.url, proxy=None, additional_headers={"Authorization": f"Bearer {good}"}
        ) as ws:
            complete(await run_chat(ws, "hi"), "alice")
        hs = issue_token(SECRET, "alice")
        refused = await _refusal(srv, additional_headers={"Authorization": f"Bearer {hs}"})
        assert refused == (401, {"error": "unauthorized", "reason": "algorithm not allowed"})
