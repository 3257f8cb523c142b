"""Objects read from the store are checked in full where they are parsed.

The store is shared by people and machines Datayard does not control: every
parser either returns a value that is safe to use or raises the project's own
error, naming the object and the field, and never lets a ``TypeError`` or a
hostile path through. The property tests feed them arbitrary JSON.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datayard.core import schema
from datayard.core.datasets.catalog import parse_latest
from datayard.core.datasets.manifest import (
    MAX_SIZE,
    PART_SUFFIX,
    Manifest,
    ManifestFile,
    Role,
    files_problem,
)
from datayard.core.errors import DatayardError, InvalidStoreObjectError
from datayard.core.store.layout import latest_key, push_marker_key, version_key
from datayard.core.training.protocol import Batch, ProtocolError, decode, encode
from datayard.core.training.runs import RunRecord
from datayard.core.training.spec import TrainSpec
from datayard.core.upkeep.gc import parse_marker

VERSION = "20260101T000000Z-0123abcd"
KEY = version_key("ada", "cats", VERSION)
SHA = "0123456789abcdef" * 4
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def entry(path: str, **changes: Any) -> ManifestFile:
    role = Role.LABEL if path.startswith("labels/") else Role.IMAGE
    values: dict[str, Any] = {
        "path": path,
        "size": 10,
        "sha256": SHA,
        "content_type": "text/plain" if role is Role.LABEL else "image/png",
        "split": path.split("/")[1],
        "role": role,
        "source": f"/share/ada/{path}",
        "class_ids": (0, 1) if role is Role.LABEL else None,
    }
    return ManifestFile(**(values | changes))


def manifest(*paths: str) -> Manifest:
    return Manifest(
        id=VERSION,
        owner="ada",
        name="cats",
        created="2026-01-01T00:00:00+00:00",
        pushed_by="ada@lab-pc",
        source_host="lab-pc",
        source_paths=("/share/ada",),
        class_names=("cat", "dog"),
        files=tuple(entry(path) for path in paths),
    )


VALID = manifest(
    "images/train/a.png", "labels/train/a.txt", "images/val/b/c.png", "labels/val/b/c.txt"
)


def valid_json() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(VALID.to_json())
    return loaded


def parse(data: object, key: str = KEY) -> Manifest:
    return Manifest.from_json(json.dumps(data).encode(), key)


def refused(data: object, key: str = KEY) -> str:
    with pytest.raises(InvalidStoreObjectError) as raised:
        parse(data, key)
    assert raised.value.key == key
    return str(raised.value)


def test_a_manifest_survives_its_own_json() -> None:
    assert Manifest.from_json(VALID.to_json(), KEY) == VALID


def test_fields_a_newer_datayard_adds_are_ignored() -> None:
    data = valid_json() | {"license": "CC-BY"}
    data["files"][0]["width"] = 640
    assert parse(data) == VALID


def set_file(index: int, **values: object) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["files"][index].update(values)


def append_copy(index: int, **values: object) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["files"].append(data["files"][index] | values)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            set_file(0, path="images/train/a\x00b.png"),
            "files[0].path",
            "NUL ('images/train/a\\x00b",
        ),
        (set_file(0, path="images/train/a\\b.png"), "files[0].path", "backslash"),
        (set_file(0, path="images/train/../../x"), "files[0].path", "'..' name"),
        (set_file(0, path="images/train//a.png"), "files[0].path", "empty"),
        (set_file(0, path="/images/train/a.png"), "files[0].path", "is not in 'images/train/'"),
        (set_file(0, path="data.yaml"), "files[0].path", "is not in 'images/train/'"),
        (set_file(0, path="labels/train/a.png"), "files[0].path", "is not in 'images/train/'"),
        (set_file(0, path="images/val/a.png"), "files[0].path", "role and split"),
        (set_file(0, path=12), "files[0].path", "is not a string (12)"),
        (set_file(0, path=f"images/train/a{PART_SUFFIX}"), "files[0].path", "pull's own files"),
        (set_file(0, sha256="../../x"), "files[0].sha256", "64 lowercase hexadecimal digits"),
        (set_file(0, sha256=SHA.upper()), "files[0].sha256", "64 lowercase hexadecimal digits"),
        (set_file(0, sha256=None), "files[0].sha256", "is not a string"),
        (set_file(0, size=-1), "files[0].size", "from 0 to 5 TiB (-1)"),
        (set_file(0, size=10**18), "files[0].size", "from 0 to 5 TiB (1000000000000000000)"),
        (set_file(0, size=MAX_SIZE + 1), "files[0].size", "5 TiB"),
        (set_file(0, size=True), "files[0].size", "(True)"),
        (set_file(0, size=1.5), "files[0].size", "(1.5)"),
        (set_file(0, role="video"), "files[0].role", "'image' or 'label'"),
        (set_file(0, role=["image"]), "files[0].role", "'image' or 'label'"),
        (set_file(1, class_ids=[0, True]), "files[1].class_ids", "class numbers"),
        (set_file(1, class_ids=[-1]), "files[1].class_ids", "class numbers"),
        (set_file(1, class_ids="0 1"), "files[1].class_ids", "class numbers"),
        (append_copy(0, size=11), "files[4].path", "repeats the path of another file"),
        (append_copy(0, sha256="f" * 64), "files[4].path", "repeats"),
        (append_copy(0, path="images/train/A.png"), "files[4].path", "case-insensitive"),
        (append_copy(2, path="images/val/b"), "files[4].path", "folder of other files"),
        (lambda data: data["files"].append(7), "files[4]", "is not a JSON object (7)"),
        (lambda data: data.update(files={}), "files", "is not a list"),
        (lambda data: data.pop("files"), "files", "is missing"),
        (lambda data: data.update(format=2), "format", "update Datayard"),
        (lambda data: data.update(format=True), "format", "not a manifest format"),
        (lambda data: data.update(id="../../x"), "id", "is not a version id"),
        (lambda data: data.update(owner="a/b"), "owner", "is not an owner name"),
        (lambda data: data.update(parent="latest"), "parent", "is not a version id"),
        (lambda data: data.update(created="yesterday"), "created", "ISO 8601"),
        (lambda data: data.update(class_names=["cat", 1]), "class_names[1]", "not a string"),
        (lambda data: data["source"].update(paths="/share"), "source.paths", "not a list"),
        (lambda data: data.pop("source"), "source", "is missing"),
    ],
)
def test_each_bad_field_is_named_with_the_object(
    change: Callable[[dict[str, Any]], None], field: str, words: str
) -> None:
    data = valid_json()
    change(data)
    message = refused(data)
    assert message.startswith(f"{KEY}: {field} "), message
    assert words in message


def test_a_manifest_stored_under_another_name_is_refused() -> None:
    message = refused(valid_json(), version_key("bob", "dogs", VERSION))
    assert f"holds ada/cats@{VERSION}, which belongs at {KEY}" in message


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[1, 2", b"[" * 100_000, b"null", b"[]"])
def test_bytes_that_are_not_a_manifest_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidStoreObjectError, match=f"^{KEY} is not (JSON|a JSON object)"):
        Manifest.from_json(raw, KEY)


def test_hostile_text_in_a_message_is_escaped() -> None:
    data = valid_json()
    data["files"][0]["path"] = "images/train/\x1b[2J\x00" + "x" * 5000
    message = refused(data)
    assert message.isprintable()
    assert "\\x1b[2J\\x00" in message and len(message) < 300


def test_files_problem_names_what_push_must_not_write() -> None:
    assert files_problem(VALID.files) is None
    twice = (*VALID.files, entry("images/train/A.png"))
    assert files_problem(twice) == (
        4,
        "path",
        "would be the same file as 'images/train/a.png' on a case-insensitive file system "
        "('images/train/A.png')",
    )
    decomposed = (entry("images/train/e\u0301.png"), entry("images/train/\u00e9.png"))
    assert files_problem(decomposed) is not None  # one name on macOS


def test_the_latest_object_holds_one_version_id() -> None:
    key = latest_key("ada", "cats")
    assert parse_latest(f"{VERSION}\n".encode(), key) == VERSION
    for raw in (b"../../datasets/x", b"", b"\xff", f"{VERSION}/../x".encode()):
        with pytest.raises(InvalidStoreObjectError, match=f"^{key} does not hold a version id"):
            parse_latest(raw, key)


def marker(**changes: object) -> bytes:
    data = {"blobs": [SHA], "started": "2026-01-01T00:00:00+00:00", "host": "lab-pc"}
    return json.dumps(data | changes).encode()


def test_a_push_marker_names_its_blobs_by_digest() -> None:
    key = push_marker_key("p1")
    assert parse_marker(key, marker(), NOW).blobs == frozenset({SHA})
    for raw, field in (
        (marker(blobs=[SHA, "../../x"]), "blobs[1]"),
        (marker(blobs=[SHA, 5]), "blobs[1]"),
        (marker(blobs=SHA), "blobs"),
        (marker(host=None), "host"),
        (b"[1, 2", ""),
    ):
        with pytest.raises(InvalidStoreObjectError) as raised:
            parse_marker(key, raw, NOW)
        assert str(raised.value).startswith(f"{key}: {field}" if field else f"{key} is not JSON")
        assert "gc deleted nothing" in str(raised.value)


def record(**changes: object) -> dict[str, Any]:
    spec = TrainSpec(dataset=f"ada/cats@{VERSION}")
    body = {
        "run_id": "20260101-000000-abcdef",
        "dataset": spec.dataset,
        "backend": "local",
        "launched_at": "2026-01-01T00:00:00+00:00",
        "cloned_from": None,
        "spec": spec.to_dict(),
    }
    return body | changes


def test_a_run_record_is_checked_field_by_field() -> None:
    key = "runs/20260101-000000-abcdef/spec.json"
    good = RunRecord.from_json(json.dumps(record()), key)
    assert RunRecord.from_json(good.to_json(), key) == good
    newer = record(spec=record()["spec"] | {"warmup": 3})  # a newer Datayard's field
    assert RunRecord.from_json(json.dumps(newer), key).spec == good.spec
    for body, field in (
        (record(run_id=7), "run_id"),
        (record(run_id="../../home"), "run_id"),  # it names the run's folder
        (record(spec=record()["spec"] | {"epochs": "many"}), "spec.epochs"),
        (record(spec=record()["spec"] | {"extra": []}), "spec.extra"),
        (record(spec=None), "spec"),
    ):
        with pytest.raises(InvalidStoreObjectError, match=f"^{key}: {field} "):
            RunRecord.from_json(json.dumps(body), key)


def test_event_lines_are_checked_against_their_event() -> None:
    line = json.loads(encode(Batch(epoch=1, batch=1, batches=2, step=1, losses={}, lr=0.1), 3))
    for changes, words in (
        ({"epoch": "1"}, "epoch is not of type int ('1')"),
        ({"losses": {"box": "high"}}, "losses is not of type dict[str, float]"),
        ({"lr": None}, "lr is not of type float"),
        ({"seq": -1}, "seq is not a sequence number"),
        ({"seq": "7"}, "seq is not a sequence number"),
        ({"v": True}, "protocol version True"),
    ):
        with pytest.raises(ProtocolError, match=re.escape(words)):
            decode(json.dumps(line | changes))


# -- properties: whatever the store holds, only the project's errors come out ----------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
PARSERS: dict[str, Callable[[bytes], object]] = {
    "manifest": lambda raw: Manifest.from_json(raw, KEY),
    "latest": lambda raw: parse_latest(raw, latest_key("ada", "cats")),
    "marker": lambda raw: parse_marker(push_marker_key("p1"), raw, NOW),
    "run record": lambda raw: RunRecord.from_json(raw, "runs/r/spec.json"),
    "event line": lambda raw: decode(raw.decode("utf-8", errors="replace")),
}


@pytest.mark.parametrize("parser", PARSERS.values(), ids=PARSERS.keys())
@given(value=JSON)
def test_arbitrary_json_parses_or_raises_a_project_error(
    parser: Callable[[bytes], object], value: object
) -> None:
    with contextlib.suppress(DatayardError):
        parser(json.dumps(value).encode())


@pytest.mark.parametrize("parser", PARSERS.values(), ids=PARSERS.keys())
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_a_project_error(
    parser: Callable[[bytes], object], raw: bytes
) -> None:
    with contextlib.suppress(DatayardError):
        parser(raw)


PATH_TEXT = st.text(alphabet=st.sampled_from("aA/.\\:\x00\n é\u0301"), max_size=12)


def parts(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest and its files that are still objects, to mutate further."""
    files = data.get("files")
    return [data, *(f for f in files if isinstance(f, dict))] if isinstance(files, list) else [data]


@st.composite
def mutated_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid manifest with a few fields replaced, removed or repeated."""
    data = valid_json()
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(parts(data)))
        action = draw(st.sampled_from(["replace", "path", "remove", "repeat"]))
        if action == "path":
            folder = draw(st.sampled_from(["images/train/", "labels/val/", ""]))
            target["path"] = folder + draw(PATH_TEXT)
        elif action == "repeat" and len(parts(data)) > 1:
            data["files"].append(copy.deepcopy(parts(data)[1]))
        elif target:
            name = draw(st.sampled_from(sorted(target)))
            if action == "remove":
                del target[name]
            else:
                target[name] = draw(JSON)
    return data


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_manifests())
def test_a_mutated_manifest_parses_safely_or_is_refused(data: dict[str, Any]) -> None:
    try:
        parsed = parse(data)
    except InvalidStoreObjectError as error:
        assert str(error).startswith(KEY) and str(error).isprintable()
        return
    paths = [f.path for f in parsed.files]
    assert all(schema.path_problem(path) is None for path in paths)
    assert len({path.casefold() for path in paths}) == len(paths)
    for file in parsed.files:
        assert file.path.startswith(f"{file.role.value}s/{file.split}/")
        assert type(file.size) is int and 0 <= file.size <= MAX_SIZE


@given(paths=st.lists(st.text(max_size=10) | PATH_TEXT, max_size=5))
def test_paths_checked_together_are_refused_as_each_alone(paths: list[str]) -> None:
    alone = [
        (index, problem)
        for index, path in enumerate(paths)
        if (problem := schema.path_problem(path))
    ]
    assert schema.first_unsafe_path(paths) == (alone[0] if alone else None)


def test_an_entry_written_twice_alike_by_an_older_push_is_one_file() -> None:
    data = valid_json()
    data["files"].append(copy.deepcopy(data["files"][1]))  # labels/train/a.txt, again
    parsed = Manifest.from_json(json.dumps(data).encode(), KEY)
    assert [f.path for f in parsed.files] == [f.path for f in VALID.files]

    data["files"][-1]["sha256"] = "f" * 64  # the same path with other content
    with pytest.raises(InvalidStoreObjectError, match=r"files\[4\]\.path"):
        Manifest.from_json(json.dumps(data).encode(), KEY)
