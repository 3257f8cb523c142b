"""Shape checks for JSON that another machine wrote: the store's objects, a worker's events.

Such data is parsed in one place per kind of object, and every value is
checked there, before anything uses it: a wrong type or a hostile path must
end as a message naming the object and the field, never as a ``TypeError``
deep inside an operation, or as a file written where it should not be.
The readers here raise :class:`SchemaError`, which each parser turns into its own
error type, naming the object it read.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from datayard.core.errors import quoted

# Paths are checked as lines (each between two newlines), so that 100,000 of them take a
# few scans in C, not 100,000 calls: for a character no path may hold (the newline
# apart, which separates them), a drive letter, and a name that is empty, "." or ".."
# (between two separators; an absolute path starts with an empty name).
_UNSAFE_CHARACTER = re.compile(r"[\\\x00-\x09\x0b-\x1f\x7f]")
_DRIVE = re.compile(r"\n[A-Za-z]:")
_EMPTY_NAME = ("//", "\n/", "/\n", "\n\n")
_DOT_NAME = re.compile(r"[\n/]\.\.?[\n/]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-f]*")


class SchemaError(Exception):
    """A value does not have the shape its reader expects.

    ``field`` is where it is in the object (``files[3].sha256``), empty for the
    whole object; ``problem`` completes a sentence that starts with the field.
    Parsers never let this out: they raise their own error, naming the object.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.field = field
        self.problem = problem

    def about(self, subject: str) -> str:
        """The problem as a message about ``subject``, the document that holds the value."""
        if not self.field:
            return f"{subject} {self.problem}"
        return f"{subject}: {self.field} {self.problem}"

    def within(self, outer: str) -> SchemaError:
        """The same problem, seen from the object that holds this value at ``outer``."""
        if not self.field:
            return SchemaError(outer, self.problem)
        joiner = "" if self.field.startswith("[") else "."
        return SchemaError(f"{outer}{joiner}{self.field}", self.problem)


def load_json(raw: bytes | str) -> Any:
    """The JSON value in ``raw``; else (bad UTF-8, absurd nesting) :class:`SchemaError`."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise SchemaError("", f"is not JSON ({quoted(str(error))})") from None


def json_object(value: object, field: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(field, f"is not a JSON object ({quoted(value)})")
    return value


def member(data: dict[str, Any], name: str) -> Any:
    if name not in data:
        raise SchemaError(name, "is missing")
    return data[name]


def text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, str):
        return value
    raise _not(data, name, "a string")


def optional_text(data: dict[str, Any], name: str) -> str | None:
    """A string, or ``None`` when the field is null or absent."""
    return None if data.get(name) is None else text(data, name)


def matching(data: dict[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    """A string that ``pattern`` matches in full; ``what`` says what it should be."""
    value = text(data, name)
    if not pattern.fullmatch(value):
        raise SchemaError(name, f"is not {what} ({quoted(value)})")
    return value


def iso_time(data: dict[str, Any], name: str) -> str:
    """A member that holds a time in ISO 8601, as Datayard writes them."""
    value = text(data, name)
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise SchemaError(name, f"is not an ISO 8601 time ({quoted(value)})") from None
    return value


def check_format(value: object, known: int, what: str) -> None:
    """The ``format`` member of a stored object: ``known``, or a newer one that an update
    of Datayard reads."""
    if type(value) is int and value > known:
        raise SchemaError(
            "format", f"is {value}; this Datayard reads format {known}: update Datayard"
        )
    if type(value) is not int or value != known:
        raise SchemaError("format", f"is not {what} ({quoted(value)})")


def integer(data: dict[str, Any], name: str, low: int, high: int, what: str = "") -> int:
    """A whole number from ``low`` to ``high``; ``true`` is not 1, and ``1.0`` is not 1.

    ``what`` says what it should be, when the bounds alone do not.
    """
    value = data.get(name)
    if type(value) is int and low <= value <= high:
        return value
    raise _not(data, name, what or f"a whole number from {low} to {high}")


def texts(data: dict[str, Any], name: str) -> tuple[str, ...]:
    """A list of strings."""
    value = data.get(name)
    if not isinstance(value, list):
        raise _not(data, name, "a list")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise SchemaError(f"{name}[{index}]", f"is not a string ({quoted(item)})")
    return tuple(value)


def _not(data: dict[str, Any], name: str, what: str) -> SchemaError:
    """The error for a member that is missing, or is not ``what``."""
    if name not in data:
        return SchemaError(name, "is missing")
    return SchemaError(name, f"is not {what} ({quoted(data[name])})")


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a safe relative path for any file system, or ``None``.

    Safe: ``/``-separated names, none of them empty, ``.`` or ``..``, without
    NUL, control characters or backslashes (a separator on Windows), not
    absolute and without a drive letter. Joined under any folder, such a path
    stays inside it, and prints on one line.
    """
    line = f"\n{path}\n"
    if _CONTROL.search(path):
        return f"contains a control character or NUL ({quoted(path)})"
    if "\\" in path:
        return f"contains a backslash ({quoted(path)})"
    if not path:
        return "is empty"
    if path.startswith("/"):
        return f"is absolute ({quoted(path)})"
    if _DRIVE.search(line):
        return f"starts with a drive letter ({quoted(path)})"
    if _bad_name(line):
        return f"has an empty, '.' or '..' name ({quoted(path)})"
    return None


def first_unsafe_path(paths: Sequence[str]) -> tuple[int, str] | None:
    """The index of the first of ``paths`` that :func:`path_problem` refuses, and why."""
    lines = "\n" + "\n".join(paths) + "\n"
    if (
        lines.count("\n") == len(paths) + 1
        and not _UNSAFE_CHARACTER.search(lines)
        and not _DRIVE.search(lines)
        and not _bad_name(lines)
    ):
        return None
    found = ((index, path_problem(path)) for index, path in enumerate(paths))
    return next(((index, problem) for index, problem in found if problem), None)


def _bad_name(lines: str) -> bool:
    """Whether a path in ``lines`` has an empty, ``.`` or ``..`` name; the regular
    expression runs only when some name starts with a dot, which few do."""
    if any(pair in lines for pair in _EMPTY_NAME):
        return True
    return ("/." in lines or "\n." in lines) and bool(_DOT_NAME.search(lines))


def first_non_digest(values: Sequence[object]) -> tuple[int, str] | None:
    """The index of the first of ``values`` that is not a sha256 digest as Datayard writes
    them (64 lowercase hexadecimal digits), and why; all at once, as for paths."""
    if set(map(type, values)) <= {str}:
        digests = typing.cast(Sequence[str], values)
        if set(map(len, digests)) <= {64} and _HEX.fullmatch("".join(digests)):
            return None
    return next(
        (
            (index, f"is not 64 lowercase hexadecimal digits ({quoted(value)})")
            for index, value in enumerate(values)
            if not (isinstance(value, str) and _DIGEST.fullmatch(value))
        ),
        None,
    )


# -- dataclasses: checked against their annotations -------------------------------------

Check = Callable[[object], bool]


class _Field(typing.NamedTuple):
    fits: Check
    as_tuple: bool
    """A tuple field: its JSON list becomes a tuple (dataclasses here are frozen)."""
    kind: str


@cache
def _fields(kind: type) -> dict[str, _Field]:
    hints = typing.get_type_hints(kind)
    return {
        field.name: _Field(
            _check(hints[field.name]),
            typing.get_origin(hints[field.name]) is tuple,
            _name(hints[field.name]),
        )
        for field in dataclasses.fields(kind)
    }


def checked_fields(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    """The members of ``data`` that are fields of the dataclass ``kind``, each checked
    against its annotation; other members are left out.

    Annotations may be ``str``, ``int``, ``float`` (an int fits), ``bool``,
    ``Any``, ``X | None``, ``tuple[X, ...]`` (a JSON list) and ``dict[str, X]``.
    """
    found: dict[str, Any] = {}
    for name, field in _fields(kind).items():
        if name in data:
            value = data[name]
            if not field.fits(value):
                raise SchemaError(name, f"is not of type {field.kind} ({quoted(value)})")
            found[name] = tuple(value) if field.as_tuple else value
    return found


def _name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _check(hint: Any) -> Check:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return lambda value: True
    if hint is type(None):
        return lambda value: value is None
    if hint is float:
        return lambda value: type(value) in (int, float)
    if hint in (str, int, bool):
        return lambda value: type(value) is hint
    if origin in (types.UnionType, typing.Union):
        options = [_check(arg) for arg in args]
        return lambda value: any(fits(value) for fits in options)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _check(args[0])
        return lambda value: type(value) is list and all(item(v) for v in value)
    if origin is dict and args[0] is str:
        item = _check(args[1])
        return lambda value: type(value) is dict and all(item(v) for v in value.values())
    raise TypeError(f"no JSON check for the annotation {hint!r}")
