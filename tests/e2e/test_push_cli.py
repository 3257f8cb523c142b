"""The push command as a user runs it: killed, resumed, its store going away, bad credentials."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.push.journal import last_unfinished_push
from datayard.core.paths import AppDirs
from datayard.core.settings import Profile
from datayard.core.store import s3
from datayard.core.store.bucket import Bucket
from datayard.core.store.embedded import EmbeddedStore
from datayard.core.store.layout import BLOBS, PUSHES, blob_key
from datayard.core.store.workspace import Workspace
from tests.e2e.test_push import write_images
from tests.fixtures.services import S3Server, datayard_command
from tests.fixtures.store_proxy import StoreProxy, blob_request, kill_at

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


def wait_while_running(process: subprocess.Popen[str], done: Callable[[], bool]) -> None:
    """Look at ``done`` now and then until it holds; fail if the push ended first."""
    while not done():
        assert process.poll() is None, "the push ended before the point to interrupt it"
        time.sleep(0.05)  # a pause between looks, so that they do not slow the push


@pytest.fixture
def lab(s3_server: S3Server, store_proxy: StoreProxy) -> tuple[str, Bucket]:
    """Profile 'lab', not the default: a fresh bucket that the push reaches through the proxy.

    Returns the profile's name and the bucket itself, reached directly.
    """
    profile = s3_server.profile(name="lab", bucket=f"k-{uuid.uuid4().hex[:12]}")
    s3.create_bucket(profile, s3_server.secret)
    add_profile("lab", replace(profile, endpoint=store_proxy.endpoint), s3_server.secret)
    return "lab", Bucket(profile, s3_server.secret)


def test_kill_9_at_several_points_then_resume(
    lab: tuple[str, Bucket], store_proxy: StoreProxy, tmp_path: Path
) -> None:
    """Each kill comes while the push waits for the answer to an upload the store has made."""
    name, bucket = lab
    source = write_images(tmp_path / "photos", 300, seed=7)
    for passing in (0, 99, 99):
        hold = store_proxy.hold(blob_request("PUT"), after=passing)
        process = subprocess.Popen(
            push_command(source, name, "--workers", "1", "-m", "night photos"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        kill_at(process, hold)
        assert Catalog(bucket).names() == {}  # nothing published by a killed push
    before = blob_count(bucket)
    assert before == 1 + 100 + 100

    resumed = run(datayard_command("push", "--resume", "--json"))
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["uploaded_blobs"] == 300 - before  # nothing stored is sent again
    assert blob_count(bucket) == 300
    # The interrupted runs are complete now: nothing left to resume, no stale markers.
    assert last_unfinished_push(AppDirs.default().database) is None
    assert list(bucket.objects(PUSHES)) == []
    owner = Workspace.default().settings().owner
    manifest = Catalog(bucket).version(DatasetRef(owner, "photos"))
    assert (manifest.id, manifest.message) == (result["version"], "night photos")
    stored = {Path(f.source).name: bucket.get_bytes(blob_key(f.sha256)) for f in manifest.files}
    assert stored == {image.name: image.read_bytes() for image in source.iterdir()}

    again = run(datayard_command("push", "--resume"))
    assert again.returncode == 2
    assert "there is no unfinished push to resume" in again.stderr


def test_kill_9_during_a_multipart_upload_then_resume(
    lab: tuple[str, Bucket], store_proxy: StoreProxy, tmp_path: Path
) -> None:
    """Killed while it waits for the answer to its third part: the store holds three parts."""
    name, bucket = lab
    source = tmp_path / "big"
    big = write_images(source, 1, side=3500, seed=8) / "img_00000.png"  # about 36 MB
    size = big.stat().st_size
    part = 5 * (1 << 20)
    hold = store_proxy.hold(lambda method, path: "partNumber=" in path, after=2)
    process = subprocess.Popen(
        push_command(source, name, "--part-size", "5", "--workers", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    kill_at(process, hold)
    resumed = run(push_command(source, name, "--part-size", "5", "--json"))
    assert resumed.returncode == 0, resumed.stderr
    # Every part the store holds is kept, the one whose answer the push never heard too.
    assert json.loads(resumed.stdout)["sent_bytes"] == size - 3 * part
    sha = hashlib.sha256(big.read_bytes()).hexdigest()
    assert bucket.get_bytes(blob_key(sha)) == big.read_bytes()


def pushed_splits(bucket: Bucket, dataset: str) -> dict[str, str]:
    """Each pushed file's split, by the path it was pushed from under the shared folder."""
    manifest = Catalog(bucket).version(DatasetRef(Workspace.default().settings().owner, dataset))
    return {f.source.split("/drive/", 1)[1]: f.split for f in manifest.files}


def test_split_auto_folder_and_ratio(lab: tuple[str, Bucket], tmp_path: Path) -> None:
    """A set with train/val folders and a flat folder without splits, pushed together."""
    name, bucket = lab
    street = tmp_path / "drive" / "street"
    for split, count in (("train", 5), ("val", 2)):
        write_images(street / "images" / split, count, seed=len(split))
        (street / "labels" / split).mkdir(parents=True)
        for image in (street / "images" / split).iterdir():
            (street / "labels" / split / f"{image.stem}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    phone = write_images(tmp_path / "drive" / "phone", 40, side=16, seed=3)
    splits = {}
    for mode in ("auto", "folder", "ratio"):
        folders = (str(street), str(phone))
        done = run(datayard_command("push", *folders, "-p", name, "-d", mode, "--split", mode))
        assert done.returncode == 0, done.stderr
        splits[mode] = pushed_splits(bucket, mode)

    layout = {
        f"street/{kind}/{split}/{image.stem}.{ext}": split
        for split in ("train", "val")
        for image in (street / "images" / split).iterdir()
        for kind, ext in (("images", "png"), ("labels", "txt"))
    }
    flat = [f"phone/{image.name}" for image in sorted(phone.iterdir())]
    auto, folder, ratio = splits["auto"], splits["folder"], splits["ratio"]
    assert {path: auto[path] for path in layout} == layout  # the folders' splits are kept
    assert 0.1 <= [auto[path] for path in flat].count("val") / len(flat) <= 0.3  # 80/20
    assert {path: folder[path] for path in layout} == layout
    assert {folder[path] for path in flat} == {"train"}
    assert [ratio[path] for path in flat] == [auto[path] for path in flat]  # stable per file
    assert {path: ratio[path] for path in layout} != layout  # folders say nothing here
    images = [split for path, split in ratio.items() if "/labels/" not in path]
    assert 0.1 <= images.count("val") / len(images) <= 0.3
    for image in (path for path in layout if path.startswith("street/images/")):
        label = image.replace("/images/", "/labels/").replace(".png", ".txt")
        assert ratio[label] == ratio[image]  # a label follows its image


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
        wait_while_running(process, lambda: blob_count(bucket) >= 1)
        process.send_signal(signal.SIGSTOP)  # it cannot finish while the store goes away
        store.stop()
        process.send_signal(signal.SIGCONT)
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


def test_a_push_message_is_shown_with_its_version_and_a_long_one_refused(
    lab: tuple[str, Bucket], tmp_path: Path
) -> None:
    name, bucket = lab
    write_images(tmp_path / "night", 3)

    pushed = run(push_command(tmp_path / "night", name, "-m", "night images added"))
    too_long = run(push_command(tmp_path / "night", name, "-m", "x" * 501))
    shown = run(datayard_command("show", "photos@v1", "--profile", name, "--json"))

    assert pushed.returncode == 0, pushed.stderr
    assert (too_long.returncode, too_long.stderr.count("\n")) == (2, 1), too_long.stderr
    assert "the message has 501 characters; at most 500" in too_long.stderr
    assert json.loads(shown.stdout)["message"] == "night images added"
    assert len(Catalog(bucket).versions(Workspace.default().settings().owner, "photos")) == 1
