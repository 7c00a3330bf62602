"""The CLI controller's paired devices: one 0600 JSON file per pairing (docs/pairing.md).

Folder: ``<config>/remote/`` where ``<config>`` is the user's config folder for
``appserver`` (``click.get_app_dir``: ``$XDG_CONFIG_HOME/appserver``, default
``~/.config/appserver`` on Linux; ``~/Library/Application Support/appserver`` on macOS),
or ``$APPSERVER_CONFIG_DIR`` when set. Folders are created 0700, files written 0600 and
replaced atomically. The device token is the credential: it is never printed or logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from appserver import limits, strings
from appserver.errors import ConfigError, RuntimeFailure, os_error_text
from appserver.private_files import write_private_file

_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{limits.CONTROLLER_NAME_MAX - 1}}}\Z")
_FORMAT = 1


@dataclass(frozen=True)
class Device:
    """One pairing of this machine with a host, as the relay's claim answered it."""

    name: str
    relay_url: str
    client_id: str
    environment_id: str
    server_name: str
    paired_at: int
    device_token: str = field(repr=False)

    def to_json(self) -> str:
        return json.dumps({"format": _FORMAT, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, path: Path) -> Device:
        try:
            data = json.loads(text)
            fields = {name: data[name] for name in cls.__dataclass_fields__}
        except (ValueError, KeyError, TypeError):
            raise RuntimeFailure(strings.CONTROLLER_BAD_DEVICE_FILE.format(path=path)) from None
        if not all(isinstance(fields[n], str) for n in fields if n != "paired_at"):
            raise RuntimeFailure(strings.CONTROLLER_BAD_DEVICE_FILE.format(path=path))
        return cls(**fields)


def default_folder(env: Mapping[str, str]) -> Path:
    override = env.get("APPSERVER_CONFIG_DIR")
    base = Path(override) if override else Path(click.get_app_dir("appserver"))
    return base / "remote"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(strings.CONTROLLER_BAD_NAME.format(name=name))
    return name


def name_from(text: str) -> str:
    """A valid local name made from free text (a host's server name)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[: limits.CONTROLLER_NAME_MAX]
    return cleaned or "host"


class DeviceStore:
    """The paired devices in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def names(self) -> list[str]:
        try:
            return sorted(p.stem for p in self.folder.glob("*.json") if _NAME.match(p.stem))
        except OSError:
            return []

    def free_name(self, wanted: str) -> str:
        """``wanted``, or ``wanted-2``, ``wanted-3``… if taken."""
        taken = set(self.names())
        name, n = wanted, 1
        while name in taken:
            n += 1
            name = f"{wanted[: limits.CONTROLLER_NAME_MAX - 5]}-{n}"  # room for "-9999"
        return name

    def save(self, device: Device) -> Path:
        path = self.path(device.name)
        write_private_file(path, device.to_json(), force=True)  # WriteFailed: a RuntimeFailure
        return path

    def load(self, name: str) -> Device:
        path = self.path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(self._unknown(name)) from None
        except OSError as exc:
            raise RuntimeFailure(strings.CONTROLLER_CANNOT_READ.format(path=path, err=os_error_text(exc))) from None
        return Device.from_json(text, path)

    def choose(self, name: str | None) -> Device:
        """The named device, or the only one when ``name`` is ``None``."""
        if name is not None:
            return self.load(name)
        names = self.names()
        if len(names) == 1:
            return self.load(names[0])
        if not names:
            raise ConfigError(strings.CONTROLLER_NO_DEVICES)
        raise ConfigError(strings.CONTROLLER_WHICH_DEVICE.format(names=", ".join(names)))

    def forget(self, name: str) -> None:
        path = self.path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise ConfigError(self._unknown(name)) from None
        except OSError as exc:
            raise RuntimeFailure(strings.CONTROLLER_CANNOT_REMOVE.format(path=path, err=os_error_text(exc))) from None

    def devices(self) -> list[Device]:
        return [self.load(name) for name in self.names()]

    def _unknown(self, name: str) -> str:
        known = ", ".join(self.names()) or "none"
        return strings.CONTROLLER_UNKNOWN_DEVICE.format(name=name, known=known)

    def __repr__(self) -> str:
        return f"<DeviceStore {self.folder}>"


def device_from_claim(name: str, answer: Any, paired_at: int) -> Device:
    """The device record from the relay's claim answer (shape checked)."""
    if not isinstance(answer, dict):
        raise RuntimeFailure(strings.CONTROLLER_BAD_CLAIM_ANSWER)
    wanted = ("client_id", "device_token", "environment_id", "relay_url")
    if not all(isinstance(answer.get(k), str) and answer[k] for k in wanted):
        raise RuntimeFailure(strings.CONTROLLER_BAD_CLAIM_ANSWER)
    server_name = answer.get("server_name")
    return Device(
        name=name,
        relay_url=answer["relay_url"],
        client_id=answer["client_id"],
        environment_id=answer["environment_id"],
        server_name=server_name if isinstance(server_name, str) else "",
        paired_at=paired_at,
        device_token=answer["device_token"],
    )

