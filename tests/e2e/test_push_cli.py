"""The push command as a user runs it: killed, resumed, its store going away, bad credentials."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.push.engine import store_id
from datayard.core.datasets.push.journal import Journal, last_unfinished_push
from datayard.core.paths import AppDirs
from datayard.core.settings import Profile
from datayard.core.store import s3
from datayard.core.store.bucket import Bucket
from datayard.core.store.embedded import EmbeddedStore
from datayard.core.store.layout import BLOBS, PUSHES, blob_key
from datayard.core.store.workspace import Workspace
from tests.e2e.test_push import write_images
from tests.fixtures.services import S3Server, datayard_command

pytestmark = pytest.mark.usefixtures("secret_service")


def add_profile(name: str, profile: Profile, secret: str) -> None:
    subprocess.run(
        datayard_command(
            "profile",
            "add",
            name,
            f"--endpoint={profile.endpoint}",
            f"--bucket={profile.bucket}",
            f"--access-key={profile.access_key}",
            "--secret-stdin",
        ),
        input=secret + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )


def push_command(source: Path, profile: str, *extra: str) -> list[str]:
    return datayard_command("push", str(source), "-d", "photos", "-p", profile, *extra)


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def blob_count(bucket: Bucket) -> int:
    return sum(1 for _ in bucket.objects(BLOBS))


def kill_when(process: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
    """SIGKILL the push once ``ready()`` holds; fail if the push ended first."""
    while not ready():
        if process.poll() is not None:
            errors = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"the push ended before the point to interrupt it: {errors}")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def parts_held(bucket: Bucket, path: Path, part_size: int, *, wait: bool = False) -> int:
    """How many parts of ``path``'s unfinished multipart upload the server holds with its bytes.

    With ``wait``, 0 until the push has begun the upload, after a pause that keeps
    a caller polling from taking the processor from the push it watches.
    """
    content = path.read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    database = AppDirs.default().database
    if wait:
        time.sleep(0.05)
        if not database.exists():
            return 0
    try:
        with closing(Journal(database, store_id(bucket))) as journal:
            upload = journal.open_upload(sha)
    except sqlite3.OperationalError:  # the push holds the database for a moment
        return 0
    if upload is None and wait:
        return 0
    assert upload is not None
    held = bucket.uploaded_parts(blob_key(sha), upload.upload_id) or {}
    return sum(
        hashlib.md5(content[(number - 1) * part_size : number * part_size]).hexdigest() in etags
        for number, etags in held.items()
    )


@pytest.fixture
def lab(s3_server: S3Server) -> tuple[str, Bucket]:
    profile = s3_server.profile(name="lab", bucket=f"k-{uuid.uuid4().hex[:12]}")
    s3.create_bucket(profile, s3_server.secret)
    add_profile("lab", profile, s3_server.secret)
    return "lab", Bucket(profile, s3_server.secret)


def test_kill_9_at_several_points_then_resume(lab: tuple[str, Bucket], tmp_path: Path) -> None:
    name, bucket = lab
    source = write_images(tmp_path / "photos", 300, seed=7)
    for threshold in (1, 100, 200):
        process = subprocess.Popen(
            push_command(source, name, "--workers", "1"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        kill_when(process, lambda n=threshold: blob_count(bucket) >= n)
        assert Catalog(bucket).datasets() == {}  # nothing published by a killed push
    before = blob_count(bucket)
    assert 200 <= before < 300

    resumed = run(push_command(source, name, "--json"))
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["uploaded_blobs"] == 300 - before  # nothing stored is sent again
    assert blob_count(bucket) == 300
    # The interrupted runs are complete now: nothing left to resume, no stale markers.
    assert last_unfinished_push(AppDirs.default().database) is None
    assert list(bucket.objects(PUSHES)) == []
    owner = Workspace.default().settings().owner
    manifest = Catalog(bucket).manifest(DatasetRef(owner, "photos"))
    assert manifest.id == result["version"]
    stored = {Path(f.source).name: bucket.get_bytes(blob_key(f.sha256)) for f in manifest.files}
    assert stored == {image.name: image.read_bytes() for image in source.iterdir()}


def test_kill_9_during_a_multipart_upload_then_resume(
    lab: tuple[str, Bucket], tmp_path: Path
) -> None:
    name, bucket = lab
    source = tmp_path / "big"
    big = write_images(source, 1, side=3500, seed=8) / "img_00000.png"  # about 36 MB
    size = big.stat().st_size
    process = subprocess.Popen(
        push_command(source, name, "--part-size", "5", "--workers", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    part = 5 * (1 << 20)
    kill_when(process, lambda: parts_held(bucket, big, part, wait=True) >= 2)
    held = parts_held(bucket, big, part)
    assert held >= 2
    resumed = run(push_command(source, name, "--part-size", "5", "--json"))
    assert resumed.returncode == 0, resumed.stderr
    kept, rest = divmod(size - json.loads(resumed.stdout)["sent_bytes"], part)
    # Every part held is kept, recorded in the journal or not; a part in flight
    # at the kill may have reached the server since it was listed.
    assert rest == 0 and kept >= held
    sha = hashlib.sha256(big.read_bytes()).hexdigest()
    assert bucket.get_bytes(blob_key(sha)) == big.read_bytes()


def test_store_going_away_mid_push_fails_clearly_then_completes(
    tmp_path: Path, private_dirs: Path
) -> None:
    store = EmbeddedStore(tmp_path / "store", tmp_path / "store-state", tmp_path / "store-log")
    status = store.start("FLAKYKEY", "flaky-secret")
    try:
        profile = Profile(
            name="flaky", endpoint=status.endpoint, bucket="datayard", access_key="FLAKYKEY"
        )
        add_profile("flaky", profile, "flaky-secret")
        bucket = Bucket(profile, "flaky-secret")
        source = write_images(tmp_path / "photos", 300, seed=9)
        process = subprocess.Popen(
            push_command(source, "flaky", "--workers", "1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while blob_count(bucket) < 50:
            assert process.poll() is None, "the push finished before the store went away"
        store.stop()
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 1
        assert "nothing answers at" in stderr
        assert "Traceback" not in stderr

        store.start("FLAKYKEY", "flaky-secret")
        before = blob_count(bucket)
        resumed = run(push_command(source, "flaky", "--json"))
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["uploaded_blobs"] == 300 - before
    finally:
        store.stop()


def test_credential_and_endpoint_problems_are_named(s3_server: S3Server, tmp_path: Path) -> None:
    source = write_images(tmp_path / "photos", 2, seed=10)
    cases = {
        "wrong-secret": (s3_server.profile(), "not-the-secret", "the secret key is wrong"),
        "no-bucket": (
            s3_server.profile(bucket="no-such-bucket"),
            s3_server.secret,
            "the bucket 'no-such-bucket' does not exist",
        ),
        "down": (
            replace(s3_server.profile(), endpoint="http://127.0.0.1:9"),
            s3_server.secret,
            "nothing answers at 127.0.0.1:9",
        ),
    }
    for name, (profile, secret, message) in cases.items():
        add_profile(name, profile, secret)
        result = run(push_command(source, name))
        assert result.returncode != 0
        assert message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr
