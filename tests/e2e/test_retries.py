"""Errors that pass are tried again, a bounded number of times; others are not; a cancel
ends the wait at once. Against the real store behind a proxy that fails what a test names."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from datayard.core.datasets.manifest import Manifest
from datayard.core.datasets.pull import PullResult, pull
from datayard.core.datasets.push import PushOptions, PushResult, push
from datayard.core.errors import InvalidSecretError, PreconditionFailedError, StorageError
from datayard.core.events import Cancelled, CancelToken, Finished
from datayard.core.paths import AppDirs
from datayard.core.store import retry
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import blob_key
from tests.e2e.test_push import write_images
from tests.fixtures.datasets import fresh_bucket, noise, publish
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import StoreProxy, request_to

MiB = 1 << 20


@pytest.fixture
def real(s3_server: S3Server) -> Bucket:
    """A fresh bucket, reached directly: what the test sets up and checks."""
    return fresh_bucket(s3_server)


@pytest.fixture
def flaky(real: Bucket, store_proxy: StoreProxy, s3_server: S3Server) -> Bucket:
    """The same bucket, reached through the proxy: what the code under test uses."""
    profile = replace(real.profile, endpoint=store_proxy.endpoint)
    return Bucket(profile, s3_server.secret, connections=8)


def run_push(folder: Path, bucket: Bucket, **options: object) -> PushResult:
    settings = {"dataset": "set", "owner": "ada", "workers": 4, **options}
    database = AppDirs.default().ensure().database
    events = push([folder], PushOptions(**settings), bucket=bucket, database=database)  # type: ignore[arg-type]
    finished = [event for event in events if isinstance(event, Finished)]
    assert isinstance(finished[-1].result, PushResult)
    return finished[-1].result


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_push_stores_a_file_the_store_refused_twice(
    flaky: Bucket, store_proxy: StoreProxy, real: Bucket, tmp_path: Path
) -> None:
    folder = write_images(tmp_path / "photos", 3)
    key = blob_key(sha256_of(folder / "img_00001.png"))
    store_proxy.fail(request_to("PUT", key), 2)

    result = run_push(folder, flaky)

    assert result.manifest is not None and not result.failures
    assert store_proxy.count(request_to("PUT", key)) == 3
    assert real.get_bytes(key) == (folder / "img_00001.png").read_bytes()


def test_a_store_that_stays_busy_fails_the_file_after_the_stated_tries(
    flaky: Bucket, store_proxy: StoreProxy, tmp_path: Path
) -> None:
    folder = write_images(tmp_path / "photos", 3)
    key = blob_key(sha256_of(folder / "img_00002.png"))
    store_proxy.fail(request_to("PUT", key), 1000)

    result = run_push(folder, flaky)

    assert store_proxy.count(request_to("PUT", key)) == retry.ATTEMPTS
    assert result.manifest is None
    assert [Path(failure.path).name for failure in result.failures] == ["img_00002.png"]
    assert "SlowDown" in result.failures[0].error


def test_a_bucket_tried_once_makes_each_request_once_and_raises_at_once(
    flaky: Bucket, store_proxy: StoreProxy, real: Bucket
) -> None:
    key = "runs/once/events/000000000.jsonl"
    store_proxy.fail(request_to("PUT", key), 2)

    with pytest.raises(StorageError, match="SlowDown"):
        flaky.tried_once().put_bytes(key, b"line\n")
    assert store_proxy.count(request_to("PUT", key)) == 1
    flaky.put_bytes(key, b"line\n")  # the bucket itself still tries again
    assert store_proxy.count(request_to("PUT", key)) == 3
    assert real.get_bytes(key) == b"line\n"


def test_a_refused_part_is_sent_again_alone(
    flaky: Bucket, store_proxy: StoreProxy, real: Bucket, tmp_path: Path
) -> None:
    big = tmp_path / "big" / "scan.tif"
    big.parent.mkdir()
    side = 3500  # 12 MB: parts of 5, 5 and 2 MiB
    Image.frombytes("L", (side, side), noise(side * side, seed=3)).save(big)
    key = blob_key(sha256_of(big))
    store_proxy.fail(request_to("PUT", key, "partNumber=2"), 2, code="InternalError")

    result = run_push(big.parent, flaky, part_size=5 * MiB)

    assert result.manifest is not None and not result.failures
    tries = [store_proxy.count(request_to("PUT", key, f"partNumber={n}")) for n in (1, 2, 3)]
    assert tries == [1, 3, 1]
    assert real.get_bytes(key) == big.read_bytes()


@pytest.fixture
def version(real: Bucket) -> Manifest:
    return publish(real, "ada/set", {"images/train/a.png": noise(300_000, seed=1)})


def pull_result(events: Iterator[object]) -> PullResult:
    finished = [event for event in events if isinstance(event, Finished)]
    assert isinstance(finished[-1].result, PullResult)
    return finished[-1].result


def test_a_download_cut_off_halfway_is_read_again(
    flaky: Bucket, store_proxy: StoreProxy, version: Manifest, tmp_path: Path
) -> None:
    key = blob_key(version.files[0].sha256)
    store_proxy.fail(request_to("GET", key), 1, cut=True)

    result = pull_result(pull(flaky, version, tmp_path / "out"))

    assert result.complete and result.downloaded == 1
    assert store_proxy.count(request_to("GET", key)) == 2
    assert sha256_of(tmp_path / "out/images/train/a.png") == version.files[0].sha256


def test_a_cancel_during_the_wait_stops_at_once(
    flaky: Bucket,
    store_proxy: StoreProxy,
    version: Manifest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = blob_key(version.files[0].sha256)
    store_proxy.fail(request_to("GET", key), 1000)
    # Far longer than the test waits for the pull to stop: only a cancelled wait ends in time.
    monkeypatch.setattr(retry, "wait_before", lambda attempt: 3600.0)
    waiting = threading.Event()

    class Waiting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            waiting.set()

    caplog.set_level(logging.INFO, logger=retry.__name__)
    logging.getLogger(retry.__name__).addHandler(handler := Waiting())
    cancel = CancelToken()
    try:
        with ThreadPoolExecutor(1) as pool:
            pulling = pool.submit(
                pull_result, pull(flaky, version, tmp_path / "out", cancel=cancel)
            )
            assert waiting.wait(60), "the pull never waited to try again"
            cancel.set()
            with pytest.raises(Cancelled):
                pulling.result(timeout=60)
    finally:
        logging.getLogger(retry.__name__).removeHandler(handler)
    assert store_proxy.count(request_to("GET", key)) == 1
    assert not (tmp_path / "o/images/train/a.png").exists()


def test_what_another_try_cannot_change_is_asked_once(
    flaky: Bucket, store_proxy: StoreProxy
) -> None:
    wrong = Bucket(flaky.profile, "not-the-secret")
    with pytest.raises(InvalidSecretError):
        wrong.get_bytes("anything")
    assert store_proxy.count(lambda method, path: True) == 1

    assert flaky.stat("absent") is None
    assert store_proxy.count(request_to("HEAD", "absent")) == 1

    flaky.put_bytes("taken", b"1")
    assert flaky.honours_conditions()
    with pytest.raises(PreconditionFailedError):
        flaky.put_if("taken", b"2", etag=None)
    assert store_proxy.count(request_to("PUT", "taken")) == 2


def test_a_listing_cut_off_goes_on_after_the_last_key_it_gave(
    flaky: Bucket, store_proxy: StoreProxy, real: Bucket
) -> None:
    keys = [f"many/{n:05d}" for n in range(1005)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: real.put_bytes(key, b""), keys))
    store_proxy.fail(request_to("GET", f"/{real.name}", "list-type=2"), 1, after=1)

    listed = [item.key for item in flaky.objects("many/")]

    assert listed == keys
    assert store_proxy.count(request_to("GET", f"/{real.name}", "list-type=2")) == 3


def test_a_busy_answer_without_a_body_is_tried_again_then_named(
    flaky: Bucket, store_proxy: StoreProxy, real: Bucket
) -> None:
    real.put_bytes("busy", b"1")
    store_proxy.fail(request_to("HEAD", "busy"), 1000)

    with pytest.raises(StorageError, match=r"the server failed \(HTTP 503\)"):
        flaky.stat("busy")
    assert store_proxy.count(request_to("HEAD", "busy")) == retry.ATTEMPTS
