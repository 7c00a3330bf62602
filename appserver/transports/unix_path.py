"""Preparing, binding and removing the Unix control socket path (spec/transport.md §3.1–3.3).

What clients can observe matches codex 0.169.0: the folder is created 0700 (the default
``app-server-control`` folder is tightened back to 0700 when looser), the socket is 0600,
a live socket at the path fails with ``app-server control socket is already in use at
{path}``, a stale socket is replaced, any other file is refused, and the socket is removed
on a clean exit only if it is still ours. ``app-server-startup.lock`` next to the socket
serializes servers (ours and codex) racing for one path; it is held only for the probe
and the bind.

The layout differs from upstream on purpose (docs/control-socket.md "Socket paths"):

* a path that fits in ``sun_path`` is bound **directly**: a real socket file at the
  advertised path, inside a folder only we can enter. Upstream always binds a physical
  socket under ``/tmp/codex-daemon-<uid>/`` and symlinks the advertised path to it; a
  direct bind needs no shared ``/tmp`` folder and leaves no link to swap;
* a longer path (which ``bind`` cannot take at all) gets upstream's layout: the physical
  socket ``/tmp/codex-daemon-<euid>/<sha256 of the advertised path>`` and a symlink at the
  advertised path. Codex clients resolve the link, so they connect with no change; our
  connectors do the same (:func:`connectable_path`). The deterministic name is upstream's,
  so a link left behind by a crashed codex or gateway is recognised as stale.

Failures raise :class:`SocketPathError` with the one line the CLI prints.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

import anyio

from appserver import limits, strings

log = logging.getLogger("appserver.unix")

#: The URI a client upgrades to over a Unix control socket (codex's
#: UDS_WEBSOCKET_HANDSHAKE_URL); the server accepts any path.
UDS_WEBSOCKET_URI = "ws://localhost/rpc"

DIR_MODE = 0o700
SOCKET_MODE = 0o600
LOCK_MODE = 0o600
STARTUP_LOCK_NAME = "app-server-startup.lock"
PHYSICAL_ROOT = Path("/tmp")


class SocketPathError(Exception):
    """The control socket cannot be set up; ``str(err)`` is the one line shown."""


def fits_sun_path(path: Path | str) -> bool:
    return len(os.fsencode(path)) <= limits.SUN_PATH_MAX


def physical_dir() -> Path:
    """``/tmp/codex-daemon-<euid>``: where long socket paths really live (upstream's)."""
    return PHYSICAL_ROOT / f"codex-daemon-{os.geteuid()}"


def physical_path(advertised: Path) -> Path:
    """Upstream's physical socket for ``advertised``: the SHA-256 hex of the path string."""
    digest = hashlib.sha256(os.fsencode(advertised)).hexdigest()
    return physical_dir() / digest


def connectable_path(path: Path | str) -> str:
    """A path ``connect`` accepts for ``path``: itself, or its resolved target if too long.

    Long control socket paths are symlinks to a short physical socket (module docstring);
    codex clients resolve them the same way.
    """
    text = os.fspath(path)
    if fits_sun_path(text):
        return text
    resolved = os.path.realpath(text)
    if fits_sun_path(resolved):
        return resolved
    raise OSError(errno.ENAMETOOLONG, "socket path is too long and is not a link to a shorter one")


def accepts_connections(path: Path | str) -> bool:
    """True when something accepts connections at ``path`` (following links)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(connectable_path(path))
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
                return False
            raise
    return True


def prepare_directory(directory: Path, *, tighten: bool) -> None:
    """Create ``directory`` 0700 (non-recursively, like upstream) and check who can write it.

    ``tighten``: chmod an existing folder back to 0700 when it grants group/other bits
    (upstream does so for the default ``app-server-control`` folder, not for a folder the
    user named). A folder that others may write to without the sticky bit is refused:
    anyone could swap the socket entry.
    """
    try:
        directory.mkdir(mode=DIR_MODE)
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
        return
    except FileExistsError:
        pass
    st = os.stat(directory)
    if not stat.S_ISDIR(st.st_mode):
        raise SocketPathError(strings.SOCKET_DIR_NOT_A_DIR.format(dir=directory))
    if tighten and st.st_mode & 0o077:
        os.chmod(directory, DIR_MODE)
        log.info("tightened %s to 0700", directory)
        return
    writable_by_others = st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX
    if st.st_uid not in (os.geteuid(), 0) or writable_by_others:
        raise SocketPathError(strings.SOCKET_PARENT_UNSAFE)


def _prepare_physical_dir() -> Path:
    directory = physical_dir()
    try:
        directory.mkdir(mode=DIR_MODE)
    except FileExistsError:
        pass
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise SocketPathError(
            strings.SOCKET_DIR_NOT_OURS.format(dir=directory, uid=os.geteuid())
        )
    if stat.S_IMODE(st.st_mode) != DIR_MODE:
        os.chmod(directory, DIR_MODE)
    return directory


@dataclass
class BoundSocket:
    """A listening socket we bound, and how to recognise our files at removal time."""

    sock: socket.socket
    advertised: Path
    physical: Path  # == advertised when bound directly
    identity: tuple[int, int, int]  # (st_dev, st_ino, st_ctime_ns) after our chmod

    @property
    def linked(self) -> bool:
        return self.physical != self.advertised

    def remove(self) -> None:
        """Unlink the socket (and link) if they are still ours; never raises."""
        try:
            st = os.lstat(self.physical)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("failed to remove app-server control socket file: %s", exc)
            return
        if _identity(st) != self.identity:
            log.info("%s was replaced by another process; leaving it", self.physical)
            return
        try:
            if self.linked and os.readlink(self.advertised) == str(self.physical):
                os.unlink(self.advertised)
        except OSError:
            pass  # the link is gone or was replaced: not ours to remove
        try:
            os.unlink(self.physical)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("failed to remove app-server control socket file: %s", exc)

    def __repr__(self) -> str:
        via = f" via {self.physical}" if self.linked else ""
        return f"<BoundSocket {self.advertised}{via} fd={self.sock.fileno()}>"


def _clear_stale(path: Path, advertised: Path) -> None:
    """Fail if ``path`` is live; remove it if it is a stale socket or a stale link of ours."""
    if accepts_connections(path):
        raise SocketPathError(strings.SOCKET_IN_USE.format(path=advertised))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(st.st_mode):
        log.info("removing stale control socket %s", path)
        os.unlink(path)
        return
    if stat.S_ISLNK(st.st_mode) and os.readlink(path) == str(physical_path(advertised)):
        # Left by a gateway or codex that did not exit cleanly: its physical socket (if
        # any) is dead, since the probe through the link failed.
        target = physical_path(advertised)
        log.info("removing stale control socket link %s -> %s", path, target)
        os.unlink(path)
        try:
            if stat.S_ISSOCK(os.lstat(target).st_mode):
                os.unlink(target)
        except FileNotFoundError:
            pass
        return
    raise SocketPathError(strings.SOCKET_NOT_A_SOCKET.format(path=advertised))


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    # The inode number alone is not enough: once our file is unlinked, a replacement may
    # get the same number. Its change time (ns) differs.
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def _bind(path: Path) -> tuple[socket.socket, tuple[int, int, int]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The socket file's mode comes from the umask at bind time; make it 0600 from the
    # start so there is no moment when others could connect, then chmod for certainty.
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    os.chmod(path, SOCKET_MODE)
    identity = _identity(os.lstat(path))
    sock.listen(socket.SOMAXCONN)
    sock.setblocking(False)
    return sock, identity


async def open_control_socket(advertised: Path, *, default_dir: bool) -> BoundSocket:
    """Prepare the folder, then probe and bind ``advertised`` under the startup lock.

    ``default_dir``: ``advertised`` is the default socket, whose folder (and CODEX_HOME)
    we may create and tighten.
    """
    try:
        if default_dir:
            advertised.parent.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        prepare_directory(advertised.parent, tighten=default_dir)
        async with StartupLock(advertised.parent):
            return _bind_control_socket(advertised)
    except OSError as exc:
        raise SocketPathError(
            strings.SOCKET_SETUP_FAILED.format(path=advertised, err=exc.strerror or exc)
        ) from None


def _bind_control_socket(advertised: Path) -> BoundSocket:
    """Probe, clear a stale entry and bind (the caller holds the startup lock)."""
    try:
        _clear_stale(advertised, advertised)
        if fits_sun_path(advertised):
            sock, identity = _bind(advertised)
            bound = BoundSocket(sock, advertised, advertised, identity)
        else:
            physical = physical_path(advertised)
            _prepare_physical_dir()
            _clear_stale(physical, advertised)
            sock, identity = _bind(physical)
            bound = BoundSocket(sock, advertised, physical, identity)
            try:
                os.symlink(physical, advertised)
            except OSError:
                bound.sock.close()
                bound.remove()
                raise
    except OSError as exc:
        raise SocketPathError(
            strings.SOCKET_BIND_FAILED.format(path=advertised, err=exc.strerror or exc)
        ) from None
    log.info("app-server control socket listening: %r", bound)
    return bound


class StartupLock:
    """``app-server-startup.lock``: an exclusive ``flock`` held for the probe and bind only.

    Codex takes the same lock (``File::lock``), so a codex child and the gateway starting
    on one path are serialized too. Waiting polls with ``LOCK_NB`` so it stays cancellable
    and bounded (``STARTUP_LOCK_TIMEOUT``).
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / STARTUP_LOCK_NAME
        self._fd: int | None = None

    async def __aenter__(self) -> StartupLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, LOCK_MODE)
        try:
            with anyio.fail_after(limits.STARTUP_LOCK_TIMEOUT):
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await anyio.sleep(limits.STARTUP_LOCK_POLL)
        except TimeoutError:
            os.close(fd)
            raise SocketPathError(
                strings.SOCKET_LOCK_TIMEOUT.format(seconds=limits.STARTUP_LOCK_TIMEOUT, path=self.path)
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __repr__(self) -> str:
        return f"<StartupLock {self.path} held={self._fd is not None}>"
