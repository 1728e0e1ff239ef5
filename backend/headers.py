"""Request headers as the backend reads them: one value per name, or a clear refusal.

Why: websockets' `Headers.get` raises `MultipleValuesError` when a name
repeats, which inside `process_request` became an HTTP 500 and a logged
traceback (two `Authorization` headers were enough). A header whose
meaning depends on there being one of it (credentials, message framing,
the WebSocket key and version) is refused with 400 when it repeats, on
both ways in (websockets' parser and the plain-HTTP side door), before any
code reads it. Headers that legitimately repeat (`Sec-WebSocket-Protocol`,
`Sec-WebSocket-Extensions`) are read with `get_all` where they are used.
"""

from __future__ import annotations

from collections.abc import Iterable

# Lower-case names that must appear at most once in a request.
SINGLE_VALUED = (
    "authorization",
    "content-length",
    "transfer-encoding",
    "host",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
)


class DuplicateHeader(ValueError):
    """A single-valued header appeared more than once; `name` is its canonical spelling."""

    def __init__(self, name: str) -> None:
        super().__init__(f"more than one {name} header")
        self.name = name


def _canonical(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-")).replace("Websocket", "WebSocket")


def single_valued(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict keyed by lower-case name; raises `DuplicateHeader` for a repeat.

    Repeats of names outside `SINGLE_VALUED` are joined with ", " (RFC 9110's
    list form), so nothing is silently dropped.
    """
    headers: dict[str, str] = {}
    for raw_name, value in pairs:
        name = raw_name.strip().lower()
        if name in headers:
            if name in SINGLE_VALUED:
                raise DuplicateHeader(_canonical(name))
            headers[name] = f"{headers[name]}, {value.strip()}"
        else:
            headers[name] = value.strip()
    return headers
