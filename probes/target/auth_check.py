"""The bad-token check: a wrongly signed token must be refused with 401, never 1011."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from probes.records import AuthCheck, AuthMode
from probes.target.session import TARGET_ERRORS, classify, connect_as

AUTH_GRACE_S = 0.5  # how long an accepted bad-token socket is watched for the server's close


async def check_bad_token(
    target: str, token: str, auth_mode: AuthMode, timeout_s: float
) -> AuthCheck:
    """Present a wrongly signed token: ok only when the handshake is refused with HTTP 401.

    An accepted socket is not ok whatever follows; it is watched for
    ``AUTH_GRACE_S`` to record how the server ends it (a 1011, say).
    """
    ws: ClientConnection | None = None
    try:
        async with asyncio.timeout(timeout_s):
            ws = await connect_as(target, token, auth_mode)
        async with asyncio.timeout(AUTH_GRACE_S):
            await ws.wait_closed()
    except InvalidStatus as exc:
        status = exc.response.status_code
        error = "" if status == 401 else f"refused: HTTP {status}, expected 401"
        return AuthCheck(http_status=status, close_code=None, ok=status == 401, error=error)
    except TARGET_ERRORS as exc:  # TimeoutError included: still open after the grace
        if ws is None:
            failure = classify(exc, connected=False, timeout_s=timeout_s)
            text = f"{failure.reason}: {failure.detail}" if failure else type(exc).__name__
            return AuthCheck(http_status=None, close_code=None, ok=False, error=text)
    closed_by_server = ws.close_code is not None
    await ws.close()
    if closed_by_server:
        error = f"accepted a bad token (HTTP 101), then closed with {ws.close_code}"
    else:
        error = "accepted a bad token (HTTP 101) and kept the socket open"
    return AuthCheck(http_status=101, close_code=ws.close_code, ok=False, error=error)
