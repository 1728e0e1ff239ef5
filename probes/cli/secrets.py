"""The token secret and admin token ``slawatch up`` gives its backend, and where they are kept.

``SLAWATCH_JWT_SECRET`` (or the file ``SLAWATCH_JWT_SECRET_FILE``) and
``SLAWATCH_ADMIN_TOKEN`` are used when set. Otherwise fresh ones are made at
every start and written to ``data/secrets/`` (directory 0700, files 0600:
readable by this user only), so another shell can run ``slawatch probe --gate``
(``SLAWATCH_JWT_SECRET_FILE=data/secrets/jwt-secret``) or switch faults
(``curl -H "Authorization: Bearer $(cat data/secrets/admin-token)"``). The
secrets are never printed or logged; only the file names are.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from probes.cli.common import SECRET_ENV, SECRET_FILE_ENV, jwt_secret
from probes.errors import UsageError

ADMIN_ENV = "SLAWATCH_ADMIN_TOKEN"
SECRETS_DIR = Path("data/secrets")
JWT_FILE = "jwt-secret"
ADMIN_FILE = "admin-token"


@dataclass(frozen=True, slots=True)
class UpSecrets:
    """The two secrets and, for each, where another shell finds it (a file or the env)."""

    jwt: str
    admin: str
    jwt_from: str  # "SLAWATCH_JWT_SECRET", or the file's path
    admin_from: str

    def env(self) -> dict[str, str]:
        """What the backend's (and the dashboard's) environment adds."""
        return {SECRET_ENV: self.jwt, ADMIN_ENV: self.admin}


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable and writable by this user only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file may have had wider rights
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


def up_secrets(directory: Path = SECRETS_DIR) -> UpSecrets:
    """The environment's secrets when set, otherwise fresh ones written under ``directory``."""
    jwt = jwt_secret(required=False)
    jwt_from = SECRET_ENV if os.environ.get(SECRET_ENV) else os.environ.get(SECRET_FILE_ENV, "")
    admin = os.environ.get(ADMIN_ENV, "")
    admin_from = ADMIN_ENV if admin else ""
    try:
        if not jwt:
            jwt = secrets.token_urlsafe(48)
            jwt_from = str(directory / JWT_FILE)
            _write_private(Path(jwt_from), jwt)
        if not admin:
            admin = secrets.token_urlsafe(24)
            admin_from = str(directory / ADMIN_FILE)
            _write_private(Path(admin_from), admin)
    except OSError as exc:
        raise UsageError(
            f"cannot write the generated secrets under {directory}: {exc.strerror} "
            f"(or set {SECRET_ENV} and {ADMIN_ENV})"
        ) from None
    return UpSecrets(jwt, admin, jwt_from, admin_from)
