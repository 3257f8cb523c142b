"""Push against a real SeaweedFS: dedup, resume after kill -9, verification, errors."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from datayard.core.datasets.catalog import Catalog
from datayard.core.datasets.push import PushOptions, PushPlanned, PushResult, push
from datayard.core.datasets.push.engine import CheckFailedError, store_id
from datayard.core.datasets.push.journal import Journal
from datayard.core.datasets.push.upload import Uploaded, upload_blob
from datayard.core.errors import StorageError
from datayard.core.events import Cancelled, FileFailed, Finished, run_to_end
from datayard.core.paths import AppDirs
from datayard.core.store import s3
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import BLOBS, PUSHES, blob_key
from datayard.core.upkeep.gc import GcResult, collect_garbage
from tests.fixtures.messy_tree import make_clean_set
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import StoreProxy, completing_upload, wrong_etag

MiB = 1 << 20


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    """A fresh bucket per test, so that tests do not see each other's blobs."""
    profile = s3_server.profile(bucket=f"t-{uuid.uuid4().hex[:12]}")
    s3.create_bucket(profile, s3_server.secret)
    return Bucket(profile, s3_server.secret, connections=32)


def write_images(folder: Path, count: int, side: int = 80, seed: int = 0) -> Path:
    """A folder of distinct, valid, unlabelled PNGs (about 20 KB each at 80x80)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        write_image(folder / f"img_{index:05d}.png", side, rng)
    return folder


def write_image(path: Path, side: int, rng: random.Random) -> Path:
    """One valid PNG of about ``3 * side**2`` bytes."""
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(
        path, compress_level=0
    )
    return path


def run_push(paths: list[Path], bucket: Bucket, **options: object) -> PushResult:
    settings = {"dataset": "set", "owner": "ada", "workers": 8, **options}
    events = push(paths, PushOptions(**settings), bucket=bucket, database=db())  # type: ignore[arg-type]
    return run_to_end(events, PushResult)


def db() -> Path:
    return AppDirs.default().ensure().database


def stored_blobs(bucket: Bucket) -> set[str]:
    return {item.key.rsplit("/", 1)[1] for item in bucket.objects(BLOBS)}


def test_push_a_clean_set_then_nothing_to_send(bucket: Bucket, tmp_path: Path) -> None:
    source = make_clean_set(tmp_path / "pets")
    first = run_push([source], bucket)
    manifest = first.manifest
    assert manifest is not None and not first.failures
    assert manifest.class_names == ("cat", "dog")
    assert manifest.split_counts() == {"train": 4, "val": 2}
    assert {f.path for f in manifest.files} >= {
        "images/train/pet_00.jpg",
        "labels/train/pet_00.txt",
        "images/val/pet_05.jpg",
    }
    for f in manifest.files:
        local = source / f.source.split("/pets/", 1)[1]
        assert bucket.get_bytes(blob_key(f.sha256)) == local.read_bytes()
    assert stored_blobs(bucket) == set(manifest.blobs)
    assert first.sent_bytes == sum(manifest.blobs.values())
    assert list(bucket.objects(PUSHES)) == []  # the in-progress marker is gone

    again = run_push([source], bucket)
    assert again.unchanged and again.sent_bytes == 0
    assert again.manifest == manifest
    versions = Catalog(bucket).versions("ada", "set")
    assert versions == [manifest.id]


def test_an_unchanged_push_skips_the_check(bucket: Bucket, tmp_path: Path) -> None:
    """Pushing the latest version's content again publishes nothing, so nothing is checked.

    The check guards what gets published; skipping it is most of a no-op push's time.
    """
    source = write_images(tmp_path / "set", 3)
    (source / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    with pytest.raises(CheckFailedError):
        run_push([source], bucket)
    forced = run_push([source], bucket, force=True)
    again = run_push([source], bucket)
    assert again.unchanged and again.manifest == forced.manifest and again.reports == ()
    (source / "img_00000.png").unlink()  # now it differs: the check runs and blocks again
    with pytest.raises(CheckFailedError):
        run_push([source], bucket)


def test_a_push_the_check_refuses_publishes_nothing_and_the_push_after_the_fix_sends_one_file(
    bucket: Bucket, tmp_path: Path
) -> None:
    """The check runs beside the uploads: the good files are sent while it reads them, and
    only the version waits for its verdict."""
    source = write_images(tmp_path / "set", 6)
    broken = source / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    good = {hashlib.sha256(p.read_bytes()).hexdigest() for p in source.glob("img_*.png")}
    with pytest.raises(CheckFailedError) as refused:
        run_push([source], bucket)
    assert any(not report.trainable for report in refused.value.reports)
    assert Catalog(bucket).versions("ada", "set") == []
    assert good <= stored_blobs(bucket)

    write_image(broken, 80, random.Random(9))
    fixed = run_push([source], bucket)
    assert fixed.manifest is not None and len(fixed.manifest.files) == 7
    assert fixed.uploaded_blobs == 1


def test_a_second_dataset_sends_only_what_the_store_lacks(bucket: Bucket, tmp_path: Path) -> None:
    first = write_images(tmp_path / "a", 20, seed=1)
    second = tmp_path / "b"
    second.mkdir()
    for index, image in enumerate(sorted(first.iterdir())):
        if index % 2 == 0:  # half the same images, under other names
            (second / f"copy_{image.name}").write_bytes(image.read_bytes())
    write_images(second / "new", 10, seed=2)
    run_push([first], bucket, dataset="first")
    result = run_push([second], bucket, dataset="second")
    assert result.manifest is not None
    assert result.uploaded_blobs == 10
    new_bytes = sum(p.stat().st_size for p in (second / "new").iterdir())
    assert result.sent_bytes == new_bytes
    assert len(stored_blobs(bucket)) == 30


def test_a_file_changed_after_the_scan_is_stored_as_read(bucket: Bucket, tmp_path: Path) -> None:
    source = write_images(tmp_path / "set", 5, seed=3)
    victim = source / "img_00002.png"
    new_content = (source / "img_00004.png").read_bytes()[:-1] + b"\x01"
    result = None
    options = PushOptions(dataset="set", owner="ada", force=True)
    for event in push([source], options, bucket=bucket, database=db()):
        if isinstance(event, PushPlanned):
            victim.write_bytes(new_content)  # after the scan hashed it, before the upload
        if isinstance(event, Finished):
            result = event.result
    assert isinstance(result, PushResult) and result.manifest is not None
    entry = next(f for f in result.manifest.files if f.source.endswith("img_00002.png"))
    assert bucket.get_bytes(blob_key(entry.sha256)) == new_content
    assert entry.path in result.changed_files


def test_content_two_files_share_is_sent_from_the_other_when_the_first_changed(
    bucket: Bucket, tmp_path: Path
) -> None:
    source = write_images(tmp_path / "set", 3, seed=5)
    shared = (source / "img_00000.png").read_bytes()
    (source / "img_00003.png").write_bytes(shared)  # the same content, sent once
    first, second = source / "img_00000.png", source / "img_00003.png"
    changed = (source / "img_00001.png").read_bytes()[:-1] + b"\x02"
    result = None
    options = PushOptions(dataset="set", owner="ada", force=True, workers=1)
    for event in push([source], options, bucket=bucket, database=db()):
        if isinstance(event, PushPlanned):
            assert event.new_blobs == 3
            first.write_bytes(changed)  # the copy the upload takes first
        if isinstance(event, Finished):
            result = event.result
    assert isinstance(result, PushResult) and result.manifest is not None
    by_name = {Path(f.source).name: f for f in result.manifest.files}
    assert bucket.get_bytes(blob_key(by_name[first.name].sha256)) == changed
    assert bucket.get_bytes(blob_key(by_name[second.name].sha256)) == shared
    assert result.uploaded_blobs == 4


def test_a_cancelled_push_starts_no_more_uploads_and_the_next_sends_the_rest(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_images(tmp_path / "set", 40, side=16, seed=6)
    token = threading.Event()
    sent: list[str] = []
    put_bytes = bucket.put_bytes

    def cancel_after_three(key: str, data: bytes, **kwargs: object) -> str:
        etag = put_bytes(key, data, **kwargs)  # type: ignore[arg-type]
        if key.startswith(BLOBS):
            sent.append(key)
            if len(sent) == 3:
                token.set()
        return etag

    options = PushOptions(dataset="set", owner="ada", force=True, workers=2)
    with monkeypatch.context() as patch, pytest.raises(Cancelled):
        patch.setattr(bucket, "put_bytes", cancel_after_three)
        for _ in push([source], options, bucket=bucket, database=db(), cancel=token):
            pass
    # The upload that set the token and the other thread's may end; none starts after.
    assert 3 <= len(sent) <= 4
    assert Catalog(bucket).newest("ada", "set") is None
    result = run_push([source], bucket, dataset="set")
    assert result.manifest is not None and len(result.manifest.files) == 40
    assert result.uploaded_blobs == 40 - len(sent)


class InFlight:
    """The bytes the push's requests carry at once, at most, as the store receives them."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()

    def carrying(self, size: int) -> None:
        with self._lock:
            self.now += size
            self.most = max(self.most, self.now)

    def done(self, size: int) -> None:
        with self._lock:
            self.now -= size


def test_the_files_in_memory_stay_within_the_push_s_budget_whatever_the_workers(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_images(tmp_path / "set", 24, seed=8)  # about 19 KB each
    largest_small = max(p.stat().st_size for p in source.glob("*.png"))
    big = write_image(source / "scan.png", 2300, random.Random(8))  # 15.1 MiB: 4 parts
    flight = InFlight()
    put_bytes, upload_part = bucket.put_bytes, bucket.upload_part

    def put(key: str, data: bytes, **kwargs: Any) -> str:
        flight.carrying(len(data) if key.startswith(BLOBS) else 0)
        try:
            return put_bytes(key, data, **kwargs)
        finally:
            flight.done(len(data) if key.startswith(BLOBS) else 0)

    second = threading.Event()

    def part(key: str, upload_id: str, number: int, data: bytes) -> str:
        flight.carrying(len(data))
        try:
            if number == 2:
                second.set()
            elif number == 1:  # a part in flight while the next would be read
                second.wait(1)  # the budget has no room for it: it never comes
            return upload_part(key, upload_id, number, data)
        finally:
            flight.done(len(data))

    monkeypatch.setattr(bucket, "put_bytes", put)
    monkeypatch.setattr(bucket, "upload_part", part)
    budget = 5 * MiB + 2 * largest_small
    result = run_push(
        [source], bucket, workers=16, part_size=5 * MiB, parallel_parts=4, memory=budget, force=True
    )
    assert result.manifest is not None and len(result.manifest.files) == 25
    assert bucket.get_bytes(blob_key(hashlib.sha256(big.read_bytes()).hexdigest())) == (
        big.read_bytes()
    )
    assert 0 < flight.most <= budget


def test_multipart_upload_resumes_from_the_last_finished_part(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "big"
    source.mkdir()
    big = source / "scan.tif"
    # 81 MB (under Pillow's 89-megapixel limit, which the check applies): 15 parts of
    # 5 MiB (the S3 minimum) and a tail. The push sees the cancel at its next look (every
    # 0.1 s), some parts later on a loaded machine: many parts must be left by then for
    # the resume to have work.
    side = 9_000
    Image.frombytes("L", (side, side), random.Random(4).randbytes(side * side)).save(big)
    size = big.stat().st_size
    part = 5 * MiB
    options = PushOptions(dataset="big", owner="ada", part_size=part, parallel_parts=1, workers=1)
    token = threading.Event()
    upload_part = bucket.upload_part

    def cancel_after_two_parts(key: str, upload_id: str, number: int, data: bytes) -> str:
        # Interrupt at a known part, not when a throttled progress event happens to say so.
        etag = upload_part(key, upload_id, number, data)
        if number == 2:
            token.set()
        return etag

    with monkeypatch.context() as patch, pytest.raises(Cancelled):
        patch.setattr(bucket, "upload_part", cancel_after_two_parts)
        for _ in push([source], options, bucket=bucket, database=db(), cancel=token):
            pass
    sha = hashlib.sha256(big.read_bytes()).hexdigest()
    journal = Journal(db(), store_id(bucket))
    open_upload = journal.open_upload(sha)
    assert open_upload is not None
    done_parts = len(bucket.uploaded_parts(blob_key(sha), open_upload.upload_id) or {})
    assert 2 <= done_parts < size // part
    assert sha not in stored_blobs(bucket)  # an unfinished multipart upload is invisible

    result = run_push([source], bucket, dataset="big", part_size=part, parallel_parts=2)
    assert result.manifest is not None and not result.failures
    assert result.sent_bytes == size - done_parts * part
    (entry,) = result.manifest.files
    assert bucket.get_bytes(blob_key(entry.sha256)) == big.read_bytes()
    assert journal.open_upload(entry.sha256) is None


def test_a_resumed_multipart_upload_reuses_every_part_the_server_holds(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's list of parts decides what is sent again, checked against the file.

    The first attempt finishes parts 1 and 2; part 3 reaches the server as the
    push dies, before it hears the answer; part 4 is stored with other bytes.
    Part 2 is then stored a second time, with other bytes: SeaweedFS keeps
    both. Only the missing parts and part 4 may be sent.
    """
    part = 5 * MiB
    big = tmp_path / "scan.bin"
    big.write_bytes(random.Random(9).randbytes(6 * part + 1234))  # 7 parts
    content = big.read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    journal = Journal(db(), store_id(bucket))
    upload_part = bucket.upload_part

    def send() -> Uploaded:
        with ThreadPoolExecutor(2) as pool:  # leaving it waits for every part
            return upload_blob(
                bucket,
                journal,
                big,
                part_size=part,
                parts_pool=pool,
                parallel_parts=2,
                on_bytes=lambda sent: None,
                expected_sha256=sha,
            )

    def die_after_part_two(key: str, upload_id: str, number: int, chunk: bytes) -> str:
        if number > 2:
            if number <= 4:
                upload_part(key, upload_id, number, chunk if number == 3 else bytes(len(chunk)))
            raise StorageError("the push died before it heard the answer")
        return upload_part(key, upload_id, number, chunk)

    with monkeypatch.context() as patch, pytest.raises(StorageError):
        patch.setattr(bucket, "upload_part", die_after_part_two)
        send()
    started = journal.open_upload(sha)
    assert started is not None
    upload_part(blob_key(sha), started.upload_id, 2, bytes(part))
    assert set(bucket.uploaded_parts(blob_key(sha), started.upload_id) or ()) == {1, 2, 3, 4}

    requested: list[int] = []

    def count(key: str, upload_id: str, number: int, chunk: bytes) -> str:
        requested.append(number)
        return upload_part(key, upload_id, number, chunk)

    monkeypatch.setattr(bucket, "upload_part", count)
    resumed = send()
    assert sorted(requested) == [4, 5, 6, 7]
    assert resumed.sent == len(content) - 3 * part  # parts 1, 2 and 3 were kept
    assert bucket.get_bytes(blob_key(sha)) == content
    assert journal.open_upload(sha) is None


@pytest.mark.parametrize("upload", ["single", "multipart"])
def test_an_upload_acknowledged_with_another_checksum_fails_that_file_alone(
    bucket: Bucket, s3_server: S3Server, store_proxy: StoreProxy, tmp_path: Path, upload: str
) -> None:
    """The store's answer names the MD5 of what it stored; any other is refused.

    A single upload's answer carries it in its ETag header, a multipart upload's
    completion in its body (the MD5 of the parts' MD5s).
    """
    source = write_images(tmp_path / "set", 3, seed=11)
    side = 1500 if upload == "multipart" else 60  # 6.4 MiB: two parts of 5 MiB
    victim = write_image(source / "scan.png", side, random.Random(12))
    sha = hashlib.sha256(victim.read_bytes()).hexdigest()

    def answering_for_the_victim(method: str, path: str) -> bool:
        if upload == "multipart":
            return completing_upload(method, path) and sha in path
        return method == "PUT" and path.split("?")[0].endswith(sha)

    store_proxy.change(answering_for_the_victim, wrong_etag)
    through_proxy = Bucket(
        replace(bucket.profile, endpoint=store_proxy.endpoint), s3_server.secret, connections=32
    )
    events = list(
        push(
            [source],
            PushOptions(dataset="set", owner="ada", part_size=5 * MiB),
            bucket=through_proxy,
            database=db(),
        )
    )
    result = run_to_end(events, PushResult)

    (failure,) = result.failures
    assert failure.path.endswith("/scan.png")
    assert "corrupted in transit" in failure.error and "checksum 0000000000" in failure.error
    assert [e for e in events if isinstance(e, FileFailed)] == [failure]
    assert result.manifest is None and Catalog(bucket).names() == {}
    assert result.uploaded_blobs == 3  # the others were stored all the same


def test_a_file_that_cannot_be_read_fails_alone_and_nothing_is_published(
    bucket: Bucket, tmp_path: Path
) -> None:
    source = write_images(tmp_path / "set", 4, seed=13)
    options = PushOptions(dataset="set", owner="ada")
    events = []
    for event in push([source], options, bucket=bucket, database=db()):
        if isinstance(event, PushPlanned):
            (source / "img_00002.png").unlink()  # scanned, then gone before its upload
        events.append(event)
    result = run_to_end(events, PushResult)

    (failure,) = result.failures
    assert failure.path.startswith("images/") and failure.path.endswith("/img_00002.png")
    assert failure.error == "No such file or directory"
    assert [e for e in events if isinstance(e, FileFailed)] == [failure]
    assert result.uploaded_blobs == 3
    assert result.manifest is None and Catalog(bucket).names() == {}


def test_a_file_that_changes_while_it_is_read_is_read_again(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_images(tmp_path / "set", 3, seed=14)
    victim = source / "img_00001.png"
    as_scanned = victim.read_bytes()
    rewritten = write_image(tmp_path / "other.png", 70, random.Random(15)).read_bytes()
    put_bytes = bucket.put_bytes

    def rewrite_once_read(key: str, data: bytes, **options: object) -> str:
        etag = put_bytes(key, data, **options)  # type: ignore[arg-type]
        if data == as_scanned:  # read and sent; the file changes before it is looked at again
            victim.write_bytes(rewritten)
        return etag

    monkeypatch.setattr(bucket, "put_bytes", rewrite_once_read)
    result = run_push([source], bucket)

    assert result.manifest is not None and not result.failures
    entry = next(f for f in result.manifest.files if f.source.endswith("/img_00001.png"))
    assert bucket.get_bytes(blob_key(entry.sha256)) == rewritten
    assert entry.size == len(rewritten)
    assert result.changed_files == (entry.path,)


def test_a_file_that_keeps_changing_while_it_is_read_fails(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_images(tmp_path / "set", 3, seed=16)
    victim = source / "img_00001.png"
    put_bytes = bucket.put_bytes

    def rewrite_every_time(key: str, data: bytes, **options: object) -> str:
        etag = put_bytes(key, data, **options)  # type: ignore[arg-type]
        if data == victim.read_bytes():
            victim.write_bytes(data + b"\0")  # another size: another signature
        return etag

    monkeypatch.setattr(bucket, "put_bytes", rewrite_every_time)
    result = run_push([source], bucket)

    (failure,) = result.failures
    assert failure.path.endswith("/img_00001.png")
    assert failure.error == f"{victim} kept changing while it was pushed; push it again later"
    assert result.manifest is None and Catalog(bucket).names() == {}


def test_after_a_gc_deleted_known_blobs_a_push_sends_them_again(
    bucket: Bucket, tmp_path: Path
) -> None:
    """This machine's index knew the blobs; the gc moved the blob generation, so it forgets."""
    source = write_images(tmp_path / "set", 4, seed=17)

    def die_before_publishing(step: str) -> None:
        if step == "uploaded":
            raise Cancelled

    with pytest.raises(Cancelled):
        list(
            push(
                [source],
                PushOptions(dataset="set", owner="ada"),
                bucket=bucket,
                database=db(),
                checkpoint=die_before_publishing,
            )
        )
    uploaded = stored_blobs(bucket)
    assert len(uploaded) == 4
    assert Journal(db(), store_id(bucket)).known(uploaded) == uploaded
    # That push died over a week ago: gc may take what it uploaded.
    (marker,) = bucket.objects(PUSHES)
    record = json.loads(bucket.get_bytes(marker.key))
    record["started"] = (datetime.now(UTC) - timedelta(days=8)).isoformat(timespec="seconds")
    bucket.put_bytes(marker.key, json.dumps(record).encode())
    swept = run_to_end(collect_garbage(bucket, delete=True, ignore_stale_pushes=True), GcResult)
    assert set(swept.deleted) == uploaded and stored_blobs(bucket) == set()

    result = run_push([source], bucket)

    assert result.manifest is not None and result.uploaded_blobs == 4
    assert stored_blobs(bucket) == set(result.manifest.blobs)


def test_the_store_is_asked_about_many_unknown_blobs_by_listing_and_about_a_few_one_by_one(
    bucket: Bucket, store_proxy: StoreProxy, s3_server: S3Server, tmp_path: Path
) -> None:
    """A first push into a small store lists its blobs whole, in one request; into a store
    of more than a page of blobs, it lists the blob prefixes (a request per 1000 blobs). A
    push after a few files changed asks about those few alone, not about the thousands
    their prefixes hold."""
    proxied = Bucket(replace(bucket.profile, endpoint=store_proxy.endpoint), s3_server.secret)
    folder = write_images(tmp_path / "many", 600, side=4)

    def asked() -> tuple[int, int]:
        listings = store_proxy.count(lambda m, p: m == "GET" and "list-type" in p and "blobs" in p)
        heads = store_proxy.count(lambda m, p: m == "HEAD" and "/blobs/sha256/" in p)
        return listings, heads

    first = run_push([folder], proxied)
    assert first.uploaded_blobs == 600
    assert asked() == (1, 0)

    rng = random.Random(1)
    for name in ("img_00007.png", "img_00300.png", "img_00599.png"):
        write_image(folder / name, 4, rng)
    second = run_push([folder], proxied)
    assert second.uploaded_blobs == 3
    assert asked() == (1, 3)

    # 603 blobs and 500 of another push's: more than a page. A new folder's many unknown
    # blobs are found prefix by prefix (after a second page, read to learn there is one).
    others = [blob_key(f"{index:064x}") for index in range(500)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: bucket.put_bytes(key, b"x"), others))
    third = run_push([write_images(tmp_path / "more", 600, side=4, seed=5)], proxied)
    assert third.manifest is not None and third.uploaded_blobs == 600
    prefixes = {sha[:2] for sha in third.manifest.blobs}
    assert asked() == (1 + 2 + len(prefixes), 3)
