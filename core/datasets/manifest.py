"""Dataset versions: the immutable manifest that names every file of a version.

A manifest is what makes a version reproducible: every file with its size,
sha256 and place in the ready-to-train layout, plus the class names and where
the data came from. Blobs are stored by content, so the manifest is the only
thing that ties a path to its bytes; it is written last, after every blob
exists, and never changed afterwards.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from datayard.core import schema
from datayard.core.errors import InvalidStoreObjectError, UsageError, quoted
from datayard.core.store.layout import version_key

FORMAT = 1
MAX_SIZE = 5 << 40
"""The largest object S3 stores (5 TiB): a larger size is a damaged manifest, not a large file."""
PART_SUFFIX = ".datayard-part"
"""Ends the temporary names of files pull is writing; no file of a version may end so."""

MAX_MESSAGE = 500
"""Characters of a version's message: a line or two, as a commit message's first line."""
LATEST = "latest"
"""The version a user means by ``NAME@latest``, as by ``NAME`` alone."""

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
VERSION_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
_NUMBER = re.compile(r"v([1-9][0-9]{0,8})")


class Role(StrEnum):
    IMAGE = "image"
    LABEL = "label"


_ROLES = {role.value: role for role in Role}
_FOLDERS = {Role.IMAGE: "images", Role.LABEL: "labels"}


def is_name(value: str) -> bool:
    """Owner and dataset names become object keys: they keep to a safe alphabet."""
    return NAME.fullmatch(value) is not None


def is_version_id(value: str) -> bool:
    return VERSION_ID.fullmatch(value) is not None


def check_name(kind: str, value: str) -> str:
    if not is_name(value):
        raise UsageError(
            f"{kind} {value!r} is not valid: use letters, digits, '.', '_' or '-' "
            "(at most 100, starting with a letter or digit)"
        )
    return value


def check_version(value: str) -> str:
    """A version as a user names it: its id, its number (``v3``) or ``latest``."""
    if is_version_id(value) or value == LATEST or version_number(value) is not None:
        return value
    raise UsageError(
        f"{value!r} is not a version: give its number (v3), latest, or its id "
        "(like 20261123T120000Z-1a2b3c4d)"
    )


def version_number(value: str) -> int | None:
    """N of ``vN``; ``None`` for anything else."""
    found = _NUMBER.fullmatch(value)
    return int(found.group(1)) if found else None


def check_message(value: str) -> str:
    """A version's message: one paragraph a person wrote, of at most :data:`MAX_MESSAGE`."""
    if len(value) > MAX_MESSAGE:
        raise UsageError(f"the message has {len(value)} characters; at most {MAX_MESSAGE}")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        raise UsageError("the message holds control characters")
    return value.strip()


@dataclass(frozen=True, slots=True)
class ManifestFile:
    path: str
    """Where ``pull`` writes the file: ``images/<split>/...`` or ``labels/<split>/...``."""
    size: int
    sha256: str
    content_type: str
    split: str
    role: Role
    source: str
    """The file's path on the machine that pushed it, for traceability."""
    class_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Manifest:
    id: str
    owner: str
    name: str
    created: str
    pushed_by: str
    source_host: str
    source_paths: tuple[str, ...]
    class_names: tuple[str, ...]
    files: tuple[ManifestFile, ...]
    parent: str | None = None
    message: str = ""
    """What the person who pushed it said of it (``push -m``); empty when nothing."""

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.name}@{self.id}"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def blobs(self) -> dict[str, int]:
        """Distinct contents of this version: sha256 -> size."""
        return {f.sha256: f.size for f in self.files}

    def split_counts(self) -> Counter[str]:
        return Counter(f.split for f in self.files if f.role is Role.IMAGE)

    def class_histogram(self) -> Counter[int]:
        counts: Counter[int] = Counter()
        for f in self.files:
            counts.update(f.class_ids or ())
        return counts

    def to_json(self) -> bytes:
        """One file per line: readable and diffable, and written by json's C encoder.

        ``indent`` would switch json to its pure-Python encoder, which costs
        about 200 MB and a second more for a manifest of 100,000 files. Lines are
        written one by one into one growing buffer, whose bytes are returned
        without a copy: joining the lines as text and then encoding it held
        three copies of those 26 MB at once, the push's peak of memory.
        """
        head = {
            "format": FORMAT,
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "created": self.created,
            "parent": self.parent,
            "pushed_by": self.pushed_by,
            "source": {"host": self.source_host, "paths": list(self.source_paths)},
            "class_names": list(self.class_names),
        }
        if self.message:
            head["message"] = self.message
        text = io.BytesIO()
        text.write(json.dumps(head, ensure_ascii=False)[:-1].encode() + b',\n"files": [\n')
        for index, file in enumerate(self.files):
            if index:
                text.write(b",\n")
            text.write(json.dumps(_file_to_dict(file), ensure_ascii=False).encode())
        text.write(b"\n]}\n")
        return text.getvalue()

    @classmethod
    def from_json(cls, raw: bytes, key: str) -> Manifest:
        """The manifest stored at ``key``, checked in full before anything uses it.

        Anyone with write access to the store may have written it, so every
        field is checked (see :func:`_file` and :func:`files_problem`); a
        problem raises :class:`InvalidStoreObjectError` naming ``key`` and the
        field. Fields this version does not know are ignored, so that a newer
        Datayard may add some.
        """
        try:
            manifest = _manifest(schema.json_object(schema.load_json(raw)))
        except schema.SchemaError as problem:
            raise InvalidStoreObjectError(key, problem.field, problem.problem) from None
        stored = version_key(manifest.owner, manifest.name, manifest.id)
        if key != stored:
            # Listed under the key's dataset, it would show (and pull) as another one.
            raise InvalidStoreObjectError(
                key, "", f"holds {manifest.ref}, which belongs at {stored}"
            )
        return manifest


def new_version_id(files: tuple[ManifestFile, ...], now: datetime | None = None) -> str:
    """Sortable by time; the digest keeps two pushes in the same second apart."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.path}\0{f.sha256}\n".encode())
    digest.update(str(datetime.now(UTC).timestamp()).encode())
    return f"{moment}-{digest.hexdigest()[:8]}"


def _file_to_dict(f: ManifestFile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "path": f.path,
        "size": f.size,
        "sha256": f.sha256,
        "content_type": f.content_type,
        "split": f.split,
        "role": f.role.value,
        "source": f.source,
    }
    if f.class_ids is not None:
        data["class_ids"] = list(f.class_ids)
    return data


def _manifest(data: dict[str, Any]) -> Manifest:
    schema.check_format(data.get("format"), FORMAT, "a manifest format")
    source = schema.json_object(schema.member(data, "source"), "source")
    try:
        host, paths = schema.text(source, "host"), schema.texts(source, "paths")
    except schema.SchemaError as problem:
        raise problem.within("source") from None
    return Manifest(
        **stored_identity(data, "a dataset name"),
        pushed_by=schema.text(data, "pushed_by"),
        source_host=host,
        source_paths=paths,
        class_names=schema.texts(data, "class_names"),
        files=_files(schema.member(data, "files")),
    )


def stored_identity(data: dict[str, Any], name_is: str) -> dict[str, Any]:
    """What every stored version (a dataset's or a model's) says of itself: its id, owner,
    name, time, parent and message; ``name_is`` words a name that is not one."""
    return {
        "id": schema.matching(data, "id", VERSION_ID, "a version id"),
        "owner": schema.matching(data, "owner", NAME, "an owner name"),
        "name": schema.matching(data, "name", NAME, name_is),
        "created": schema.iso_time(data, "created"),
        "parent": None
        if data.get("parent") is None
        else schema.matching(data, "parent", VERSION_ID, "a version id"),
        "message": stored_message(data),
    }


def stored_message(data: dict[str, Any]) -> str:
    """The ``message`` member of a stored version, as :func:`check_message` allows it."""
    if data.get("message") is None:
        return ""
    value = schema.text(data, "message")
    try:
        return check_message(value)
    except UsageError as error:
        raise schema.SchemaError("message", str(error)) from None


def _files(value: object) -> tuple[ManifestFile, ...]:
    if type(value) is not list:
        raise schema.SchemaError("files", f"is not a list ({quoted(value)})")
    files = []
    for index, item in enumerate(value):
        try:
            files.append(_file(schema.json_object(item)))
        except schema.SchemaError as problem:
            raise problem.within(f"files[{index}]") from None
    found = files_problem(files)
    if found and found[1] == "path" and len(set(files)) < len(files):
        # Pushes before plans listed a label shared by two images of one stem (a.jpg,
        # a.png) once wrote that entry twice, alike in every field: one file, kept once.
        files = list(dict.fromkeys(files))
        found = files_problem(files)
    if found:
        index, field, why = found
        raise schema.SchemaError(f"files[{index}].{field}", why)
    return tuple(files)


def _file(data: dict[str, Any]) -> ManifestFile:
    """One file, each field of its type, in the folder of its role and split.

    Under ``images/<split>/`` or ``labels/<split>/``, no file can take a name
    that pull writes at the top of the folder (data.yaml, its lock file).
    :func:`_files` checks digests, and that paths are safe and unique.
    """
    role = _role(data.get("role"))
    split = schema.text(data, "split")
    path = schema.text(data, "path")
    folder = f"{_FOLDERS[role]}/{split}/"
    if not path.startswith(folder) or "/" in split:
        raise schema.SchemaError(
            "path", f"is not in {quoted(folder)}, as its role and split say ({quoted(path)})"
        )
    ids = data.get("class_ids")
    return ManifestFile(
        path=path,
        size=schema.integer(data, "size", 0, MAX_SIZE, "a size in bytes from 0 to 5 TiB"),
        sha256=schema.text(data, "sha256"),
        content_type=schema.text(data, "content_type"),
        split=split,
        role=role,
        source=schema.text(data, "source"),
        class_ids=None if ids is None else _class_ids(ids),
    )


def _role(value: object) -> Role:
    role = _ROLES.get(value) if type(value) is str else None
    if role is None:
        raise schema.SchemaError("role", f"is not 'image' or 'label' ({quoted(value)})")
    return role


def _class_ids(value: object) -> tuple[int, ...]:
    if type(value) is not list or not all(type(i) is int and i >= 0 for i in value):
        raise schema.SchemaError("class_ids", f"is not a list of class numbers ({quoted(value)})")
    return tuple(value)


def files_problem(files: Sequence[ManifestFile]) -> tuple[int, str, str] | None:
    """The first file a version may not hold: its index, the field and why; or ``None``.

    Digests must be as Datayard writes them, and paths safe
    (:func:`schema.first_unsafe_path`) and unique (:func:`_collision`); none
    may end with the suffix of pull's temporary files, which pull deletes as
    leftovers. Push checks the versions it plans with it too, so that it never
    writes one that others refuse to read. All files are checked at once,
    which is a few times faster than file by file.
    """
    digest = schema.first_non_digest([f.sha256 for f in files])
    if digest:
        return digest[0], "sha256", digest[1]
    paths = [f.path for f in files]
    path = schema.first_unsafe_path(paths) or _reserved(paths) or _collision(paths)
    return (path[0], "path", path[1]) if path else None


def _reserved(paths: list[str]) -> tuple[int, str] | None:
    if f"{PART_SUFFIX}\n" not in "\n".join(paths) + "\n":
        return None
    index = next(i for i, path in enumerate(paths) if path.endswith(PART_SUFFIX))
    return index, f"ends with {PART_SUFFIX}, kept for pull's own files ({quoted(paths[index])})"


def _collision(paths: list[str]) -> tuple[int, str] | None:
    """The first of the (safe) ``paths`` that would not be a file of its own once pulled.

    Paths are compared as a case-insensitive file system compares them
    (Windows and macOS by default, and many shared drives; macOS also treats
    composed and decomposed accents as one): ``a.jpg`` and ``A.jpg`` would be
    one file there, and whichever is written last would silently pair an
    image with another image's labels. A version must pull the same on every
    machine of the team, so such a pair is refused, as is a path that is also
    the folder of another.
    """
    # Folded all at once; safe paths hold no newline, and folding adds none.
    folded = unicodedata.normalize("NFC", "\n".join(paths)).casefold().split("\n")
    seen = dict(zip(folded, range(len(folded)), strict=True))
    if len(seen) < len(paths):
        return _first_repeat(paths, folded)
    folders = _folders(seen) & seen.keys()
    if not folders:
        return None
    index = min(seen[folder] for folder in folders)
    return index, f"is also the folder of other files ({quoted(paths[index])})"


def _first_repeat(paths: list[str], folded: list[str]) -> tuple[int, str]:
    first: dict[str, int] = {}
    for index, key in enumerate(folded):
        other = first.setdefault(key, index)
        if other != index:
            break
    path, earlier = paths[index], paths[other]
    if path == earlier:
        return index, f"repeats the path of another file ({quoted(path)})"
    return index, (
        f"would be the same file as {quoted(earlier)} on a case-insensitive file system "
        f"({quoted(path)})"
    )


def _folders(paths: Iterable[str]) -> set[str]:
    """Every folder that holds one of ``paths``, at any depth."""
    found: set[str] = set()
    for parent in {path.rpartition("/")[0] for path in paths}:
        while parent and parent not in found:
            found.add(parent)
            parent = parent.rpartition("/")[0]
    return found


def diff(old: Manifest, new: Manifest) -> tuple[list[str], list[str], list[str]]:
    """Paths added, removed and changed (same path, other content) from old to new."""
    before = {f.path: f.sha256 for f in old.files}
    after = {f.path: f.sha256 for f in new.files}
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(p for p in before.keys() & after.keys() if before[p] != after[p])
    return added, removed, changed
