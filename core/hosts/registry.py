"""The training hosts this user has added: a name for each SSH destination.

A host is only a name and how to reach it; everything else about the login
(the key, the user, a jump host) stays in the user's OpenSSH set-up, which
Datayard reads like ``ssh`` does, so that a host that works in a terminal works
here. The list lives in its own TOML file beside the settings
(:mod:`datayard.core.place_registry`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from datayard.core.errors import ConfigError, UsageError
from datayard.core.place_registry import LOCAL_PLACE, PlaceRegistry, known_keys, typed

LOCAL_HOST = LOCAL_PLACE

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_USER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


@dataclass(frozen=True)
class Destination:
    """Where ``ssh`` goes: ``user@host:port``, any part but the host optional.

    A bare name may be an alias of the user's ``~/.ssh/config``, which then
    supplies the real host name, user, port, key and jump host.
    """

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Destination:
        raw = text.strip()
        user, at, rest = raw.rpartition("@")
        if not at:
            user, rest = "", raw
        if at and not _USER.match(user):
            raise UsageError(f"destination {text!r}: {user!r} is not a user name")
        host, port = _host_and_port(rest, text)
        if not _HOSTNAME.match(host) and not _is_ipv6(host):
            raise UsageError(
                f"destination {text!r}: write it as user@host, user@host:port, "
                "or the name of a Host in ~/.ssh/config"
            )
        return cls(host=host, user=user or None, port=port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{host}{port}"


def _host_and_port(text: str, whole: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise UsageError(f"destination {whole!r}: an IPv6 address is written [address]:port")
        return host, _port(rest[1:], whole) if rest else None
    host, colon, port = text.partition(":")
    return host, _port(port, whole) if colon else None


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"destination {whole!r}: the port must be a number from 1 to 65535")
    return int(text)


def _is_ipv6(host: str) -> bool:
    return ":" in host and all(c in "0123456789abcdefABCDEF:." for c in host)


@dataclass(frozen=True)
class Host:
    """A machine that trains: its name in Datayard and its SSH destination."""

    name: str
    destination: str
    python: str = ""
    """The Python on the host that the worker environment is built on, when the user
    named one (a conda environment that already has torch, say); else the first
    ``python3`` on the host's PATH."""

    def validated(self) -> Host:
        if not _NAME.match(self.name) or self.name == LOCAL_HOST:
            raise UsageError(
                f"host name {self.name!r} is not valid: use letters, digits, '.', '_' or '-'"
                + (f" ({LOCAL_HOST!r} means this computer)" if self.name == LOCAL_HOST else "")
            )
        Destination.parse(self.destination)
        check_python(self.python)
        return self

    @property
    def target(self) -> Destination:
        return Destination.parse(self.destination)

    @property
    def shown(self) -> str:
        """How a message names it."""
        return "this computer" if self.name == LOCAL_HOST else f"host {self.name!r}"


def check_python(python: str) -> str:
    """``python`` when it can name a Python on any machine: an absolute path (or none)."""
    if python and not python.startswith(("/", "~")):
        raise UsageError(f"--python {python!r}: give the absolute path of a Python")
    return python


class HostRegistry(PlaceRegistry[Host]):
    kind = "host"
    add_example = "datayard host add {name} user@host"

    def with_python(self, name: str, python: str) -> Host:
        host = replace(self.get(name), python=python)
        self.update(host)
        return host

    def _fields(self, place: Host) -> dict[str, Any]:
        return {k: v for k, v in asdict(place).items() if k != "name" and v}

    def _parse(self, name: str, fields: dict[str, Any]) -> Host:
        table = f"hosts.{name}"
        known_keys(self.path, table, fields, {"destination", "python"})
        if not isinstance(fields.get("destination"), str):
            raise ConfigError(f"{self.path}: [{table}] needs a destination")
        python = typed(self.path, table, fields, "python", str, "")
        return Host(name=name, destination=fields["destination"], python=python)
