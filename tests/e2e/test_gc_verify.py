"""``verify`` and ``gc`` against a real SeaweedFS: damage is found, used blobs survive."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datayard.core.datasets.blobs import ALL_PREFIXES, list_blobs
from datayard.core.datasets.verify import VerifyResult, verify
from datayard.core.errors import StorageError
from datayard.core.events import run_to_end
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import GENERATION_KEY, blob_key, push_marker_key, version_key
from datayard.core.upkeep.gc import GcResult, collect_garbage
from tests.fixtures.datasets import (
    add_profile,
    fresh_bucket,
    noise,
    publish,
    run_cli,
    sample_files,
    upload,
)
from tests.fixtures.services import S3Server

LAB = ("--profile", "lab")


def stored(bucket: Bucket) -> set[str]:
    generator = list_blobs(bucket, ALL_PREFIXES, workers=8)
    try:
        while True:
            next(generator)
    except StopIteration as end:
        return set(end.value)


def test_verify_finds_a_deleted_blob_and_lists_its_files(s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    files = sample_files()
    files["images/train/copy.png"] = files["images/train/cat1.png"]  # same content, two paths
    manifest = publish(bucket, "alice/cats", files)
    assert run_to_end(verify(bucket, manifest), VerifyResult).intact

    gone = next(f.sha256 for f in manifest.files if f.path == "images/train/cat1.png")
    bucket.remove([blob_key(gone)])
    result = run_to_end(verify(bucket, manifest), VerifyResult)

    assert not result.intact
    (problem,) = result.problems
    assert problem.sha256 == gone and problem.problem == "missing from the store"
    assert sorted(problem.paths) == ["images/train/cat1.png", "images/train/copy.png"]


@pytest.mark.usefixtures("secret_service")
def test_verify_deep_finds_a_blob_damaged_in_place(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    manifest = publish(bucket, "alice/cats", sample_files())
    damaged = next(f for f in manifest.files if f.path == "images/train/x2.jpg")
    bucket.put_bytes(blob_key(damaged.sha256), noise(damaged.size, seed=99))  # same size
    add_profile(s3_server, bucket)

    quick = run_cli("verify", "alice/cats", *LAB)
    assert quick.returncode == 0, quick.stderr
    assert "in the store with the right size" in quick.stdout

    deep = run_cli("verify", "alice/cats", "--deep", *LAB, "--json")
    assert deep.returncode == 1, deep.stderr
    report = json.loads(deep.stdout)
    assert report["intact"] is False and report["deep"] is True
    (problem,) = report["problems"]
    assert problem["sha256"] == damaged.sha256 and problem["paths"] == [damaged.path]
    assert "damaged" in problem["problem"]

    pulled = run_cli("pull", "alice/cats", str(tmp_path / "cats"), *LAB)
    assert pulled.returncode == 1
    assert f"failed: {damaged.path}" in pulled.stderr


def gc_scene(bucket: Bucket) -> dict[str, set[str]]:
    """Two datasets sharing blobs, orphans, and markers of a live and a stale push."""
    files = sample_files()
    first = publish(bucket, "alice/cats", files)
    files.pop("images/train/x0.jpg")
    second = publish(bucket, "alice/cats", files)
    shared = publish(bucket, "bob/mix", {"images/train/same.png": files["images/train/cat1.png"]})
    live, stale = upload(bucket, noise(700, seed=1)), upload(bucket, noise(800, seed=2))
    for push_id, sha, started in (
        ("live", live, datetime.now(UTC)),
        ("dead", stale, datetime.now(UTC) - timedelta(days=8)),
    ):
        marker = {"blobs": [sha], "started": started.isoformat(), "host": "lab-pc"}
        bucket.put_bytes(push_marker_key(push_id), json.dumps(marker).encode())
    orphans = {upload(bucket, noise(600 + n, seed=10 + n)) for n in range(3)}
    versions = set(first.blobs) | set(second.blobs) | set(shared.blobs)
    return {"versions": versions, "live": {live}, "stale": {stale}, "orphans": orphans}


@pytest.mark.usefixtures("secret_service")
def test_gc_deletes_only_what_nothing_uses(s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    scene = gc_scene(bucket)
    everything = set().union(*scene.values())
    assert stored(bucket) == everything

    dry = run_to_end(collect_garbage(bucket), GcResult)
    assert {sha for sha, _ in dry.unreferenced} == scene["orphans"]
    assert dry.deleted == () and stored(bucket) == everything
    assert [m.stale for m in sorted(dry.markers, key=lambda m: m.key)] == [True, False]

    add_profile(s3_server, bucket)
    listed = run_cli("gc", *LAB)
    assert listed.returncode == 0, listed.stderr
    assert "3 unused blobs (1.8 KiB) would be deleted" in listed.stdout
    assert "pushes/dead.json" in listed.stderr and "over 7 days old" in listed.stderr

    deleted = run_cli("gc", "--delete", *LAB, "--json")
    assert deleted.returncode == 0, deleted.stderr
    report = json.loads(deleted.stdout)
    assert set(report["deleted"]) == scene["orphans"] and report["dry_run"] is False
    assert stored(bucket) == scene["versions"] | scene["live"] | scene["stale"]
    assert bucket.exists(GENERATION_KEY)

    run_cli("gc", "--delete", "--ignore-stale-pushes", *LAB).check_returncode()
    assert stored(bucket) == scene["versions"] | scene["live"]
    for ref in ("alice/cats", "bob/mix"):
        assert run_cli("verify", ref, *LAB).returncode == 0


def test_gc_deletes_nothing_when_a_manifest_cannot_be_read(s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    scene = gc_scene(bucket)
    bucket.put_bytes(version_key("carol", "broken", "20260101T000000Z-0badf00d"), b"{not json")

    with pytest.raises(StorageError, match="gc deleted nothing"):
        run_to_end(collect_garbage(bucket, delete=True), GcResult)
    assert scene["orphans"] <= stored(bucket)

    bucket.remove([version_key("carol", "broken", "20260101T000000Z-0badf00d")])
    bucket.put_bytes(push_marker_key("garbled"), b"[1, 2")
    with pytest.raises(
        StorageError, match=r"pushes/garbled\.json is not JSON .*gc deleted nothing"
    ):
        run_to_end(collect_garbage(bucket, delete=True), GcResult)
    assert scene["orphans"] <= stored(bucket)
