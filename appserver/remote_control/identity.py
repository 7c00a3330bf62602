"""The host's installation id and server name, stable across restarts.

Codex keeps a UUID in ``$CODEX_HOME/installation_id`` and uses the trimmed hostname as
server name (spec/remote-control.md §1). We keep ours in **our own** state folder,
``$CODEX_HOME/appserver/remote-control/`` (0700), file ``identity.json`` (0600):
``{"installation_id": "<uuid>", "server_name": "<hostname at first start>"}``. The name is
written once so a host keeps its name (and the relay's device list stays readable) even
if the machine is renamed; edit the file to rename it.
"""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from appserver.private_files import make_private_dirs, replace_private_file

STATE_SUBDIR = ("appserver", "remote-control")
IDENTITY_FILE = "identity.json"


@dataclass(frozen=True, slots=True)
class Identity:
    installation_id: str
    server_name: str


def state_dir(codex_home: Path) -> Path:
    return codex_home.joinpath(*STATE_SUBDIR)


def hostname() -> str:
    return socket.gethostname().strip() or "localhost"


def load_or_create(directory: Path) -> Identity:
    """Read the identity, creating it on first start; a damaged file is replaced."""
    make_private_dirs(directory, tighten=True)
    path = directory / IDENTITY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        installation = str(uuid.UUID(data["installation_id"]))
        name = data["server_name"]
        if isinstance(name, str) and name.strip():
            return Identity(installation, name.strip())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    identity = Identity(str(uuid.uuid4()), hostname())
    replace_private_file(
        path,
        json.dumps(
            {"installation_id": identity.installation_id, "server_name": identity.server_name},
            indent=2,
        )
        + "\n",
    )
    return identity
