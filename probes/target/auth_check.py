"""The bad-token check: a credential signed by a wrong key (or a wrong static secret)
must be refused in one of the profile's ``refused_*`` forms, never answered with 1011.

For agent-chat v1 that is HTTP 401 at the handshake. A profile that refuses
after the upgrade (first-message auth: a close code such as 4403, or an event
such as Socket.IO's ``connect_error``) is sent its auth message, and the
first handshake step's frame, and then watched until it refuses, accepts or
goes quiet.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from probes.judging.rules import rules_for
from probes.profiles.model import Profile
from probes.profiles.templates import fill, token_b64url
from probes.records import AuthCheck, AuthMode
from probes.target.connection import TARGET_ERRORS, classify, connect_as
from probes.target.frames import CONTROL, FrameError
from probes.target.session import codec_for

AUTH_GRACE_S = 0.5  # how long an accepted bad-token socket is watched for the server's close
REFUSAL_WAIT_S = 2.0  # how long a first-message-auth server may take to refuse


def _refuses_after_upgrade(profile: Profile, mode: AuthMode) -> bool:
    auth = profile.auth
    return mode == "message" or bool(auth.refused_close or auth.refused_events)


async def _watch(
    ws: ClientConnection, profile: Profile, mode: AuthMode, token: str, user_id: str
) -> str:
    """Present the bad credential after the upgrade; the event type by which the server
    accepted it ("" when it sent none, "refused" for a refusal event).

    With handshake steps, only a step's ``expect`` or ``fail`` type says the server
    went on with the bad credential: a greeting sent before any credential is read
    (``hello``, ``session.created``) says nothing yet. Without steps, the first event.
    """
    codec = codec_for(profile)
    values = {"token": token, "token_b64url": token_b64url(token), "user_id": user_id}
    steps = profile.handshake
    accepting = {kind for step in steps for kind in (*step.expect, *step.fail)}
    if mode == "message":
        await ws.send(fill(profile.auth.message, values))
    if profile.handshake and profile.handshake[0].send:
        await ws.send(fill(profile.handshake[0].send, values))
    rules = rules_for(profile)
    async with asyncio.timeout(REFUSAL_WAIT_S):
        while True:
            try:
                value = codec.decode(await ws.recv())
            except FrameError:
                return "an unreadable frame"
            for text in codec.outgoing:
                await ws.send(text)
            codec.outgoing.clear()
            if value is CONTROL:
                continue
            kind = rules.event_type(value)
            if kind in profile.auth.refused_events:
                return "refused"
            if kind is not None and kind not in rules.ignore and (not steps or kind in accepting):
                return kind


def _accepted(code: int | None, profile: Profile, seen: str) -> tuple[bool, str]:
    """Whether an upgraded bad-token socket was refused after all, and if not, how it went."""
    if (code is not None and code in profile.auth.refused_close) or seen == "refused":
        return True, ""
    if seen:
        return False, f"accepted a bad token (HTTP 101): the server sent {seen}"
    if code is not None:
        return False, f"accepted a bad token (HTTP 101), then closed with {code}"
    return False, "accepted a bad token (HTTP 101) and kept the socket open"


async def check_bad_token(
    target: str,
    token: str,
    auth_mode: AuthMode,
    timeout_s: float,
    profile: Profile,
    user_id: str = "",
) -> AuthCheck:
    """Present a wrongly signed token: ok only when it is refused as the profile says.

    An accepted socket is not ok unless a refusal follows; it is watched to
    record how the server ends it (a 1011, say).
    """
    ws: ClientConnection | None = None
    seen = ""
    refused_http = profile.auth.refused_http
    try:
        async with asyncio.timeout(timeout_s):
            url = codec_for(profile).url(target)
            ws = await connect_as(url, token, auth_mode, profile, user_id=user_id)
        if _refuses_after_upgrade(profile, auth_mode):
            seen = await _watch(ws, profile, auth_mode, token, user_id)
        else:
            async with asyncio.timeout(AUTH_GRACE_S):
                await ws.wait_closed()
    except InvalidStatus as exc:
        status = exc.response.status_code
        ok = status in refused_http
        expected = " or ".join(str(s) for s in refused_http)
        error = "" if ok else f"refused: HTTP {status}, expected {expected}"
        return AuthCheck(http_status=status, close_code=None, ok=ok, error=error)
    except ConnectionClosed:
        pass  # closed while watching: the close code says whether that was a refusal
    except TARGET_ERRORS as exc:  # TimeoutError included: still open after the grace
        if ws is None:
            failure = classify(exc, connected=False, timeout_s=timeout_s)
            text = f"{failure.reason}: {failure.detail}" if failure else type(exc).__name__
            return AuthCheck(http_status=None, close_code=None, ok=False, error=text)
    assert ws is not None
    ok, error = _accepted(ws.close_code, profile, seen)
    await ws.close()
    return AuthCheck(http_status=101, close_code=ws.close_code, ok=ok, error=error)
