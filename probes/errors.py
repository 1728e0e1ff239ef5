"""The exceptions slawatch raises on purpose, as one tree, and the exit code of each.

Every error a user can cause or meet is a ``SlawatchError``; the command line
(``probes.cli.main``) maps the tree to exit codes with ``exit_code`` and prints
the message, never a traceback::

    SlawatchError
    ├── InputError            bad input: fix the config, a flag or a file     exit 2
    │   ├── ConfigError       a setting is missing, unknown or invalid (names the key)
    │   ├── UsageError        a command was asked for something it cannot do
    │   ├── StartError        a child process (backend, dashboard) did not come up
    │   ├── StoreUrlError     the store's URL cannot be used: not a URL, no driver,
    │   │                     unreachable, no such database, or no store there (reads)
    │   └── TargetUnreachable `slawatch probe` reached no target: nothing was judged
    └── StoreError            the results store failed                          exit 3
        ├── StoreUnavailable  the store cannot be reached, opened or locked in time
        └── RoundNotSaved     one round was not stored (nothing of it was written)

An objective that is breached is not an exception: ``slawatch probe --gate``
returns ``EXIT_BREACHED``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BREACHED = 1  # the gate's verdict is FAIL: an objective is broken
EXIT_INPUT = 2  # bad configuration, flags or files
EXIT_STORE = 3  # the results store is unavailable: nothing was judged
EXIT_INTERRUPTED = 130  # Ctrl-C


class SlawatchError(Exception):
    """Base of every error slawatch raises on purpose; the message is for the user."""


class InputError(SlawatchError, ValueError):
    """The user's input (settings, flags, files) is wrong; the message says what to change."""


class ConfigError(InputError):
    """A setting is missing, unknown or invalid; the message names the key."""


class UsageError(InputError):
    """A command was asked for something it cannot do; the message says what to change."""


class StartError(InputError, RuntimeError):
    """A child process did not come up (a port in use, a bad flag)."""


class UnrepresentableSlo(InputError):
    """An OpenSLO document says what ``[[slo]]`` cannot (calendar windows, Timeslices, months)."""


class StoreUrlError(InputError):
    """The results store's URL cannot be used as given; the message names the URL.

    Not a URL, a dialect without an installed driver, a server that refuses the
    connection, a database or file that does not exist (read-only commands never
    create one), or a file that is not a results store. Fix ``--db`` or
    ``[store] url``: exit 2. A store that was reached but stays locked, fills up
    or breaks is ``StoreUnavailable`` (exit 3).
    """


class TargetUnreachable(InputError):
    """No session of any round reached the target; the rounds were stored as ``error``."""


class StoreError(SlawatchError):
    """Base of the errors the results store raises."""


class StoreUnavailable(StoreError):
    """The results store cannot be reached, opened or written within the time allowed."""


class RoundNotSaved(StoreError):
    """A round was not stored (duplicate run id, constraint, naive time, lost lock).

    Nothing of it was written: a round is stored whole or not at all.
    """


EXIT_CODES: tuple[tuple[type[SlawatchError], int], ...] = (
    (InputError, EXIT_INPUT),
    (StoreError, EXIT_STORE),
)


def exit_code(error: SlawatchError) -> int:
    """The process exit code for ``error`` (the first matching row of ``EXIT_CODES``)."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_INPUT
