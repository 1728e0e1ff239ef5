"""One HTTP POST of a JSON body to a notify target, with a total deadline; secrets kept out.

The URL is resolved at send time (``env:NAME`` read from the environment then),
so it is never stored, and no error text names it: a failure says which target
and what went wrong (HTTP status, refused, timed out), never where.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from typing import Any

from probes.config import NotifySettings
from probes.errors import SlawatchError

ALERTMANAGER_PATH = "/api/v2/alerts"


class DeliveryError(SlawatchError):
    """A notification was not accepted (the receiver is down, slow, or said no)."""


def resolve_url(target: NotifySettings) -> str:
    """The target's URL (from the environment for ``env:NAME``), with Alertmanager's path."""
    url = target.url
    if url.startswith("env:"):
        name = url.removeprefix("env:")
        url = os.environ.get(name, "")
        if not url:
            raise DeliveryError(f"notify {target.name!r}: environment variable {name} is not set")
    if target.kind == "alertmanager":
        url = url.rstrip("/") + ALERTMANAGER_PATH
    return url


def _post(url: str, body: Any, key: str, timeout_s: float) -> int:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout_s) as reply:
        reply.read()
        return int(reply.status)


async def deliver(target: NotifySettings, body: Any, key: str, deadline_s: float) -> None:
    """POST ``body``; raises ``DeliveryError`` unless a 2xx came back within ``deadline_s``.

    ``key`` (incident, target, event) goes in an ``Idempotency-Key`` header: a
    receiver that answered after the deadline gets the same key on the retry.

    The blocking request runs in a worker thread; the deadline covers the whole
    exchange, so a receiver that trickles or hangs costs at most ``deadline_s``.
    """
    url = resolve_url(target)
    try:
        async with asyncio.timeout(deadline_s):
            status = await asyncio.to_thread(_post, url, body, key, deadline_s)
    except TimeoutError:
        raise DeliveryError(f"notify {target.name!r}: no answer within {deadline_s:g}s") from None
    except urllib.error.HTTPError as exc:
        said = exc.read(200).decode("utf-8", "replace").strip()  # the receiver's reason
        raise DeliveryError(f"notify {target.name!r}: HTTP {exc.code} {said}".rstrip()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        kind = type(reason).__name__ if not isinstance(reason, str) else "error"
        raise DeliveryError(f"notify {target.name!r}: not delivered ({kind})") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"notify {target.name!r}: HTTP {status}")
