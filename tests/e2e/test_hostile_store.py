"""Objects in the store that Datayard did not write as they are, met through the CLI.

Anyone with write access to a store can put anything in it. Each case below
was once a traceback, a file written from the wrong blob, or a wrong verdict;
now the command stops with one line that names the object and the field, and
writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datayard.core.datasets.manifest import Manifest
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import (
    GENERATION_KEY,
    blob_key,
    latest_key,
    push_marker_key,
    version_key,
)
from tests.fixtures.datasets import (
    add_profile,
    fresh_bucket,
    publish,
    run_cli,
    sample_files,
)
from tests.fixtures.services import S3Server

pytestmark = pytest.mark.usefixtures("secret_service")

LAB = ("--profile", "lab")
Change = Callable[[dict[str, Any]], None]


def refused(args: tuple[str, ...], *words: str) -> None:
    """The command fails with one readable line that holds ``words``, and no traceback."""
    result = run_cli(*args, *LAB)
    assert result.returncode == 1, (args, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in result.stderr


def rewrite(bucket: Bucket, manifest: Manifest, change: Change) -> str:
    """Store ``manifest`` again, as ``change`` leaves its JSON; return its key."""
    data = json.loads(manifest.to_json())
    change(data)
    key = version_key(manifest.owner, manifest.name, manifest.id)
    bucket.put_bytes(key, json.dumps(data).encode())
    return key


def file_of(data: dict[str, Any], path: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in data["files"] if f["path"] == path)
    return found


def set_file(path: str, /, **values: object) -> Change:
    return lambda data: file_of(data, path).update(values)


def label_with_image_bytes(data: dict[str, Any]) -> None:
    """A second entry for a label's path, with the content of a PNG."""
    image = file_of(data, "images/train/cat1.png")
    data["files"].append(file_of(data, "labels/train/cat1.txt") | {"sha256": image["sha256"]})


def pulled_into(tmp_path: Path) -> tuple[str, ...]:
    return ("pull", "alice/cats", str(tmp_path / "out"))


@pytest.fixture
def store(s3_server: S3Server) -> tuple[Bucket, Manifest, Manifest]:
    """alice/cats in two versions, the second to be damaged by each test."""
    bucket = fresh_bucket(s3_server)
    first = publish(bucket, "alice/cats", sample_files(extra_train=1))
    second = publish(bucket, "alice/cats", sample_files(extra_train=2))
    add_profile(s3_server, bucket)
    return bucket, first, second


@pytest.mark.parametrize(
    ("change", "field", "words", "command"),
    [
        pytest.param(
            set_file("images/train/cat1.png", path="images/train/cat\x001.png"),
            "path",
            "control character or NUL ('images/train/cat\\x001.png')",
            "pull",
            id="NUL-in-a-path-pull",
        ),
        pytest.param(
            set_file("images/train/cat1.png", path="/tmp/cat1.png"),
            "path",
            "is not in 'images/train/', as its role and split say ('/tmp/cat1.png')",
            "pull",
            id="absolute-path-pull",
        ),
        pytest.param(
            set_file("images/train/cat1.png", path="C:/Users/ada/cat1.png"),
            "path",
            "is not in 'images/train/', as its role and split say ('C:/Users/ada/cat1.png')",
            "pull",
            id="drive-letter-pull",
        ),
        pytest.param(
            set_file("images/train/cat1.png", path="images/train/..\\..\\cat1.png"),
            "path",
            "contains a backslash",
            "pull",
            id="backslash-pull",
        ),
        pytest.param(
            set_file("images/train/cat1.png", sha256="../../x"),
            "sha256",
            "is not 64 lowercase hexadecimal digits ('../../x')",
            "verify",
            id="sha256-as-a-path-verify",
        ),
        pytest.param(
            set_file("images/train/cat1.png", sha256="../../x"),
            "sha256",
            "'../../x'",
            "pull",
            id="sha256-as-a-path-pull",
        ),
        pytest.param(
            set_file("images/train/cat1.png", path=12),
            "path",
            "is not a string (12)",
            "diff",
            id="path-as-a-number-diff",
        ),
        pytest.param(
            set_file("images/train/cat1.png", path=12),
            "path",
            "is not a string (12)",
            "pull",
            id="path-as-a-number-pull",
        ),
        pytest.param(
            label_with_image_bytes,
            "path",
            "repeats the path of another file ('labels/train/cat1.txt')",
            "verify",
            id="one-path-twice-verify",
        ),
        pytest.param(
            label_with_image_bytes,
            "path",
            "repeats the path",
            "pull",
            id="one-path-twice-pull",
        ),
        pytest.param(
            set_file("images/train/cat1.png", path="data.yaml"),
            "path",
            "is not in 'images/train/'",
            "pull",
            id="data.yaml-pull",
        ),
        pytest.param(
            set_file("images/train/cat1.png", size=-1),
            "size",
            "is not a size in bytes from 0 to 5 TiB (-1)",
            "verify",
            id="negative-size-verify",
        ),
        pytest.param(
            set_file("images/train/cat1.png", size=10**18),
            "size",
            "(1000000000000000000)",
            "verify",
            id="size-beyond-S3-verify",
        ),
    ],
)
def test_a_bad_manifest_is_named_with_its_field(
    store: tuple[Bucket, Manifest, Manifest],
    tmp_path: Path,
    change: Change,
    field: str,
    words: str,
    command: str,
) -> None:
    bucket, first, second = store
    key = rewrite(bucket, second, change)
    index = next(i for i, f in enumerate(second.files) if f.path == "images/train/cat1.png")
    if change is label_with_image_bytes:
        index = len(second.files)
    args = {
        "verify": ("verify", "alice/cats"),
        "diff": ("diff", f"alice/cats@{first.id}", "alice/cats"),
        "pull": pulled_into(tmp_path),
    }[command]

    refused(args, f"error: {key}: files[{index}].{field} ", words)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["show", "diff", "verify", "pull"])
def test_a_latest_object_that_is_no_version_id_is_named(
    store: tuple[Bucket, Manifest, Manifest], tmp_path: Path, command: str
) -> None:
    bucket, first, _ = store
    bucket.put_bytes(latest_key("alice", "cats"), b"../../../blobs/sha256/00/x")
    args = {
        "show": ("show", "alice/cats"),
        "diff": ("diff", f"alice/cats@{first.id}", "alice/cats"),
        "verify": ("verify", "alice/cats"),
        "pull": pulled_into(tmp_path),
    }[command]

    refused(args, "datasets/alice/cats/latest does not hold a version id (b'../../../blobs")
    assert not (tmp_path / "out").exists()


def test_the_listing_shows_every_readable_dataset_and_marks_the_broken_version(
    store: tuple[Bucket, Manifest, Manifest],
) -> None:
    bucket, first, second = store
    dogs = publish(bucket, "bob/dogs", {"images/train/d.png": b"not really a png"})
    key = rewrite(bucket, second, set_file("images/train/cat1.png", sha256="../../x"))
    reason = f"{key}: files[0].sha256 is not 64 lowercase hexadecimal digits ('../../x')"

    listed = run_cli("datasets", *LAB, "--json")
    assert listed.returncode == 0, listed.stderr
    cats, bobs = json.loads(listed.stdout)
    assert [v["id"] for v in cats["versions"]] == [first.id]
    assert cats["broken"] == [{"id": second.id, "object": key, "problem": reason}]
    assert [v["id"] for v in bobs["versions"]] == [dogs.id] and bobs["broken"] == []

    table = run_cli("datasets", *LAB)
    assert table.returncode == 0, table.stderr
    assert first.id in table.stdout and dogs.id in table.stdout
    assert f"cannot be read: {reason}" in table.stdout.splitlines()
    assert "Traceback" not in table.stderr


def test_gc_deletes_nothing_when_a_push_marker_names_no_blob(
    store: tuple[Bucket, Manifest, Manifest],
) -> None:
    bucket, _, _ = store
    marker = {"blobs": ["../../x"], "started": "2026-01-01T00:00:00+00:00", "host": "lab-pc"}
    bucket.put_bytes(push_marker_key("p1"), json.dumps(marker).encode())
    orphan = blob_key("ab" * 32)
    bucket.put_bytes(orphan, b"nobody uses me")

    refused(("gc", "--delete"), "pushes/p1.json: blobs[0] is not 64 lowercase", "deleted nothing")
    assert bucket.exists(orphan)


def test_push_refuses_a_blob_generation_it_cannot_read(
    store: tuple[Bucket, Manifest, Manifest], tmp_path: Path
) -> None:
    bucket, _, _ = store
    bucket.put_bytes(GENERATION_KEY, b"\x1b[2J\x1b[2J")
    for path, data in sample_files(extra_train=0).items():
        (tmp_path / "cats" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "cats" / path).write_bytes(data)

    refused(
        ("push", str(tmp_path / "cats"), "--dataset", "pets"),
        "blobs/generation does not hold a blob generation (b'\\x1b[2J",
    )


RUN = "20260101-000000-abcdef"


def store_run(bucket: Bucket, spec: dict[str, Any], artifact: str) -> None:
    bucket.put_bytes(f"runs/{RUN}/spec.json", json.dumps(spec).encode())
    bucket.put_bytes(f"runs/{RUN}/artifacts/{artifact}", b"weights")


def run_record(**changes: object) -> dict[str, Any]:
    record = {
        "run_id": RUN,
        "dataset": "alice/cats",
        "backend": "local",
        "launched_at": "2026-01-01T00:00:00+00:00",
        "cloned_from": None,
        "spec": {"dataset": "alice/cats", "epochs": 3},
    }
    return record | changes


def test_fetch_refuses_a_run_whose_files_would_land_elsewhere(
    store: tuple[Bucket, Manifest, Manifest], tmp_path: Path
) -> None:
    bucket, _, _ = store
    store_run(bucket, run_record(), "C:/Users/ada/escaped.pt")  # absolute, on Windows

    refused(
        ("fetch", RUN, str(tmp_path / "out")), "artifacts/C:/Users/ada/escaped.pt", "drive letter"
    )
    assert list((tmp_path / "out").rglob("*")) == []


def test_fetch_refuses_a_run_record_it_cannot_read(
    store: tuple[Bucket, Manifest, Manifest], tmp_path: Path
) -> None:
    bucket, _, _ = store
    store_run(bucket, run_record(spec={"dataset": "alice/cats", "epochs": "3"}), "best.pt")

    refused(("fetch", RUN, str(tmp_path / "out")), f"runs/{RUN}/spec.json: spec.epochs ")
    assert list((tmp_path / "out").rglob("*")) == []
