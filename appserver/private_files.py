"""Private folders (0700) and files (0600): the one place the gateway creates them.

Secrets, tokens, the codex backend's state folder and the relay's database live in these.
``mkdir``'s mode is filtered by the umask, so every folder created here is chmod-ed after
it is made; files are written to a 0600 temporary file in the same folder and moved into
place, so they are never readable with other permissions, even for a moment.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from appserver import strings
from appserver.errors import ConfigError, RuntimeFailure, os_error_text

DIR_MODE = 0o700
FILE_MODE = 0o600


class WriteFailed(RuntimeFailure):
    """Writing a private file failed (a runtime error, exit status 1)."""


def make_private_dirs(folder: Path, *, tighten: bool = False) -> None:
    """Create ``folder`` and its missing parents, each 0700; with ``tighten``, an existing
    ``folder`` is also set back to 0700 (a folder only the gateway uses)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(created, DIR_MODE)
    if tighten and not missing:
        os.chmod(folder, DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it is missing (folders 0700), and set an
    existing file back to 0600 (a database the gateway opens next). Raises ``OSError``."""
    make_private_dirs(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    os.chmod(path, FILE_MODE)


def replace_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (0600, folders 0700), replacing it atomically.

    Raises ``OSError``: for state the gateway keeps for itself, whose callers decide what a
    failure means; :func:`write_private_file` is the user-facing form.
    """
    make_private_dirs(path.parent)
    tmp = _temporary_copy(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def write_private_file(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` with mode 0600; create missing folders 0700.

    Without ``force`` an existing path is refused (:class:`ConfigError`); with it the
    file is replaced atomically. Other failures raise :class:`WriteFailed`.
    """
    if (path.exists() or path.is_symlink()) and not force:
        raise ConfigError(strings.TOKEN_OUT_EXISTS.format(path=path))
    try:
        if force:
            replace_private_file(path, text)
            return
        make_private_dirs(path.parent)
        tmp = _temporary_copy(path, text)
        try:
            os.link(tmp, path)  # fails if someone created it meanwhile
        finally:
            _discard(tmp)
    except FileExistsError:
        raise ConfigError(strings.TOKEN_OUT_EXISTS.format(path=path)) from None
    except OSError as exc:
        raise WriteFailed(strings.TOKEN_WRITE_FAILED.format(path=path, err=os_error_text(exc))) from None


def _temporary_copy(path: Path, text: str) -> str:
    """``text`` in a new 0600 file next to ``path``; its name is returned."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, FILE_MODE)
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _discard(tmp: str) -> None:
    if os.path.exists(tmp):
        os.unlink(tmp)
