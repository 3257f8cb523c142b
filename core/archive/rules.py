"""Archive rules: which shared-drive folder becomes which datasets, in which store, when.

Rules are kept in ``archive.toml`` beside the settings, readable and editable by hand,
each change one atomic write. A rule holds no secret: its store is a profile's, whose
secret key stays in the keyring.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomli_w

from datayard.core.archive.schedule import MANUAL, Schedule
from datayard.core.atomic import write_atomically
from datayard.core.errors import ConfigError, UsageError
from datayard.core.place_registry import known_keys, typed
from datayard.core.settings import read_toml

RULES_FILE = "archive.toml"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""Also the name of the rule's units and of its prefix in the store: no dot, no slash."""
FIELDS = ("owner", "set", "folder", "rule")
"""What a dataset template may name (see :mod:`.split`)."""
DEFAULT_TEMPLATE = "{owner}/{set}"
_LITERAL = re.compile(r"[A-Za-z0-9._-]*")
MAX_DEPTH = 16


class Per(StrEnum):
    PERSON = "person"
    """One dataset per top-level folder; its name is the owner."""
    SET = "set"
    """One dataset per set that the scan recognises."""
    FOLDER = "folder"
    """One dataset per folder at the rule's depth."""


@dataclass(frozen=True)
class Rule:
    name: str
    root: str
    """An absolute folder: the share as this machine mounts it."""
    per: Per = Per.PERSON
    depth: int = 1
    """For ``per folder``: 1 is the root's own folders."""
    template: str = DEFAULT_TEMPLATE
    include: tuple[str, ...] = ()
    """Globs on each dataset's folder, relative to the root; none means every folder."""
    exclude: tuple[str, ...] = ()
    profile: str = ""
    """The store's profile; empty: the settings' default at each pass."""
    schedule: str = "daily"

    def validated(self) -> Rule:
        """Self, or :class:`UsageError` naming the value that is not valid."""
        check_name(self.name)
        check_depth(self.depth, self.per)
        check_template(self.template)
        check_schedule(self.schedule)
        return self

    @property
    def manual(self) -> bool:
        """No timer runs it (schedule ``none``)."""
        return self.schedule.strip().lower() == MANUAL

    @property
    def parsed_schedule(self) -> Schedule:
        """:class:`UsageError` for a manual rule: there is nothing to install."""
        if self.manual:
            raise UsageError(
                f"rule {self.name} has no schedule ({MANUAL}): it runs by "
                f"'datayard archive run {self.name}' or the app's Run now; add it again "
                "with a --schedule to install it"
            )
        return Schedule.parse(self.schedule)

    def as_dict(self) -> dict[str, Any]:
        """Every field, as ``archive list --json`` prints it and a CronJob's pod reads it."""
        return {
            "name": self.name,
            "root": self.root,
            "per": self.per.value,
            "depth": self.depth,
            "template": self.template,
            "include": list(self.include),
            "exclude": list(self.exclude),
            "profile": self.profile,
            "schedule": self.schedule,
        }


def check_name(name: str) -> None:
    """:class:`UsageError` unless ``name`` can name the rule's units and store prefix."""
    if not NAME.fullmatch(name):
        raise UsageError(
            f"rule name {name!r} is not valid: use letters, digits, '_' or '-' "
            "(at most 64, starting with a letter or digit)"
        )


def check_unused(name: str, taken: Collection[str]) -> None:
    """:class:`UsageError` when a rule of ``taken`` has the name: a rule is replaced on
    purpose only, by editing it (or removing it first)."""
    if name in taken:
        raise UsageError(f"archive rule {name!r} exists; edit it or remove it first")


def check_per(per: str) -> Per:
    """The :class:`Per` that ``per`` names; :class:`UsageError` otherwise."""
    if per not in Per.__members__.values():
        raise UsageError(f"--per {per!r}: use one of {', '.join(Per)}")
    return Per(per)


def check_depth(depth: int, per: Per) -> None:
    if not 1 <= depth <= MAX_DEPTH:
        raise UsageError(f"--depth must be from 1 to {MAX_DEPTH}, not {depth}")
    if depth != 1 and per is not Per.FOLDER:
        raise UsageError("--depth is for --per folder only")


def check_schedule(schedule: str) -> None:
    """:class:`UsageError` unless ``schedule`` is ``none`` or one :class:`Schedule` reads."""
    if schedule.strip().lower() != MANUAL:
        Schedule.parse(schedule)


def check_template(template: str) -> None:
    """:class:`UsageError` unless ``template`` makes ``[OWNER/]NAME`` from known fields."""
    described = f"--dataset-template {template!r}"
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise UsageError(f"{described}: {error}") from None
    for literal, field, spec, conversion in parts:
        if field is not None and (field not in FIELDS or spec or conversion):
            raise UsageError(
                f"{described}: {{{field}}} is not a field; use "
                f"{', '.join('{' + f + '}' for f in FIELDS)}"
            )
        if not _LITERAL.fullmatch(literal.replace("/", "")):
            raise UsageError(f"{described}: use letters, digits, '.', '_', '-' and one '/'")
    names = template.split("/")
    if len(names) > 2 or not all(names) or not any(field for _, field, _, _ in parts):
        raise UsageError(
            f"{described}: write [OWNER/]NAME with at least one field, like '{DEFAULT_TEMPLATE}'"
        )


def check_root(root: str) -> str:
    """The root as an absolute path; :class:`UsageError` when it is not a folder."""
    if not root.strip():
        raise UsageError("--root: give the shared-drive folder to archive")  # not "." by chance
    path = Path(root).expanduser()
    if not path.exists():
        raise UsageError(f"--root {root}: does not exist")
    if not path.is_dir():
        raise UsageError(f"--root {root}: is not a folder")
    return str(path.absolute())


class RuleBook:
    """The rules of ``archive.toml`` in the config folder."""

    def __init__(self, config_dir: Path) -> None:
        self.path = config_dir / RULES_FILE

    def all(self) -> list[Rule]:
        data = read_toml(self.path, str(self.path)) or {}
        table = data.get("rules", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{self.path}: [rules] is not a table")
        rules = []
        for name, fields in table.items():
            if not isinstance(fields, dict):
                raise ConfigError(f"{self.path}: [rules.{name}] is not a table")
            try:
                rules.append(parse_rule(self.path, name, fields).validated())
            except UsageError as error:
                raise ConfigError(f"{self.path}: [rules.{name}]: {error}") from error
        return rules

    def get(self, name: str) -> Rule:
        rules = self.all()
        for rule in rules:
            if rule.name == name:
                return rule
        known = ", ".join(rule.name for rule in rules) or "none"
        raise UsageError(
            f"there is no archive rule {name!r} (known: {known}); add one with "
            f"'datayard archive add {name} --root PATH'"
        )

    def add(self, rule: Rule) -> None:
        rule = rule.validated()
        rules = self.all()
        check_unused(rule.name, [known.name for known in rules])
        self._save([*rules, rule])

    def replace(self, rule: Rule) -> None:
        """Write ``rule`` in place of the rule of its name, in one atomic write; the
        name stays: the store's reports, the pass's lock and the installed units are
        keyed by it."""
        rule = rule.validated()
        self.get(rule.name)  # removed meanwhile: refused, not added back
        self._save([rule if known.name == rule.name else known for known in self.all()])

    def remove(self, name: str) -> None:
        self.get(name)
        self._save([rule for rule in self.all() if rule.name != name])

    def _save(self, rules: list[Rule]) -> None:
        data = {
            "rules": {
                rule.name: {
                    key: value
                    for key, value in rule.as_dict().items()
                    if key != "name"
                    and (key != "depth" or rule.per is Per.FOLDER)
                    and (key != "profile" or value)
                }
                for rule in sorted(rules, key=lambda rule: rule.name)
            }
        }
        write_atomically(self.path, tomli_w.dumps(data).encode("utf-8"), mode=0o600)


def parse_rule(where: Path | str, name: str, fields: dict[str, Any]) -> Rule:
    """The rule ``name`` of ``fields`` (a table of ``archive.toml``, or the JSON a pod is
    given); :class:`ConfigError` naming ``where`` and the field that does not fit."""
    table = f"rules.{name}"
    known_keys(where, table, fields, set(Rule.__dataclass_fields__) - {"name"})
    per = typed(where, table, fields, "per", str, Per.PERSON.value)
    if per not in Per.__members__.values():
        raise ConfigError(f"{where}: [{table}].per must be one of {', '.join(Per)}")
    lists = {key: typed(where, table, fields, key, list, []) for key in ("include", "exclude")}
    for key, values in lists.items():
        if not all(isinstance(value, str) for value in values):
            raise ConfigError(f"{where}: [{table}].{key} must be a list of globs")
    return Rule(
        name=name,
        root=typed(where, table, fields, "root", str, ""),
        per=Per(per),
        depth=typed(where, table, fields, "depth", int, 1),
        template=typed(where, table, fields, "template", str, DEFAULT_TEMPLATE),
        include=tuple(lists["include"]),
        exclude=tuple(lists["exclude"]),
        profile=typed(where, table, fields, "profile", str, ""),
        schedule=typed(where, table, fields, "schedule", str, "daily"),
    )


def rule_from_json(raw: str, where: str) -> Rule:
    """The rule of :meth:`Rule.as_dict`'s JSON, checked as one of ``archive.toml`` is."""
    try:
        fields = json.loads(raw)
    except ValueError as error:
        raise ConfigError(f"{where}: not JSON ({error})") from None
    if not isinstance(fields, dict) or not isinstance(fields.get("name"), str):
        raise ConfigError(f"{where}: not an archive rule (a JSON object with a name)")
    name = fields.pop("name")
    try:
        return parse_rule(where, name, fields).validated()
    except UsageError as error:
        raise ConfigError(f"{where}: {error}") from error
