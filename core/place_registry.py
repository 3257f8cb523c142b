"""The places a run trains besides this computer, each kind in a TOML file beside the
settings: hosts in ``hosts.toml``, clusters in ``clusters.toml``.

``train --on NAME`` names a place without saying its kind, so a name belongs to one
place of one kind: adding a host named like a cluster (or the other way round) is
refused, and ``local`` (this computer) is nobody's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import tomli_w

from datayard.core.atomic import write_atomically
from datayard.core.errors import ConfigError, UsageError
from datayard.core.settings import read_toml

LOCAL_PLACE = "local"
"""The name that means this computer wherever a place to train is chosen."""

PLACE_FILES = {"host": "hosts.toml", "cluster": "clusters.toml"}
"""Each kind of place, the file that lists them; its table has the kind's plural name."""


class Place(Protocol):
    @property
    def name(self) -> str: ...

    def validated(self) -> Self: ...


P = TypeVar("P", bound=Place)


class PlaceRegistry(ABC, Generic[P]):
    """Reads and writes one kind's file; each change is one atomic write."""

    kind: ClassVar[str]
    """``host`` or ``cluster``: a key of :data:`PLACE_FILES`."""
    add_example: ClassVar[str]
    """How ``datayard ... add`` is written for this kind, with ``{name}`` in it."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.path = config_dir / PLACE_FILES[self.kind]

    @abstractmethod
    def _parse(self, name: str, fields: dict[str, Any]) -> P:
        """The place ``name`` from its table's ``fields``: :class:`UsageError` when a value
        is not valid, :class:`ConfigError` when the table is not as written here."""

    @abstractmethod
    def _fields(self, place: P) -> dict[str, Any]:
        """The table that :meth:`_parse` reads back, without empty values."""

    def all(self) -> list[P]:
        places = []
        for name, fields in _table(self.path, self.kind).items():
            if not isinstance(fields, dict):
                raise ConfigError(f"{self.path}: [{self.kind}s.{name}] is not a table")
            try:
                places.append(self._parse(name, fields).validated())
            except UsageError as error:
                raise ConfigError(f"{self.path}: [{self.kind}s.{name}]: {error}") from error
        return places

    def get(self, name: str) -> P:
        for place in self.all():
            if place.name == name:
                return place
        known = ", ".join(p.name for p in self.all()) or "none"
        raise UsageError(
            f"there is no {self.kind} {name!r} (known: {known}); add one with "
            f"'{self.add_example.format(name=name)}'"
        )

    def check_new(self, name: str) -> None:
        """:class:`UsageError` when ``name`` is taken: by a place of this kind or another."""
        if name == LOCAL_PLACE:
            raise UsageError(f"{LOCAL_PLACE!r} means this computer: choose another name")
        if any(place.name == name for place in self.all()):
            raise UsageError(f"{self.kind} {name!r} exists; remove it first or choose another name")
        for kind, file in PLACE_FILES.items():
            if kind != self.kind and name in _table(self.config_dir / file, kind):
                raise UsageError(
                    f"{name!r} is the name of a {kind}: `train --on {name}` must name one "
                    f"place, so give this {self.kind} another name"
                )

    def add(self, place: P) -> None:
        place = place.validated()
        self.check_new(place.name)
        self._save([*self.all(), place])

    def update(self, place: P) -> None:
        place = place.validated()
        self.get(place.name)
        self._save([place if p.name == place.name else p for p in self.all()])

    def remove(self, name: str) -> None:
        self.get(name)
        self._save([p for p in self.all() if p.name != name])

    def _save(self, places: list[P]) -> None:
        data = {f"{self.kind}s": {p.name: self._fields(p) for p in sorted(places, key=_name)}}
        write_atomically(self.path, tomli_w.dumps(data).encode("utf-8"), mode=0o600)


def _name(place: Place) -> str:
    return place.name


def _table(path: Path, kind: str) -> dict[str, Any]:
    """The ``[<kind>s]`` table of ``path``; empty when the file does not exist."""
    data = read_toml(path, str(path))
    if data is None:
        return {}
    table = data.get(f"{kind}s", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{kind}s] is not a table")
    return table


def known_keys(path: Path | str, table: str, fields: dict[str, Any], allowed: set[str]) -> None:
    """:class:`ConfigError` naming the keys of ``fields`` that are not ``allowed``."""
    unknown = set(fields) - allowed
    if unknown:
        raise ConfigError(f"{path}: [{table}] has unknown keys: {sorted(unknown)}")


def typed(
    path: Path | str, table: str, fields: dict[str, Any], key: str, kind: type, default: Any
) -> Any:
    """``fields[key]`` when it is a ``kind`` (``default`` when absent); else
    :class:`ConfigError` naming it."""
    value = fields.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: [{table}].{key} must be a {kind.__name__}")
    return value
