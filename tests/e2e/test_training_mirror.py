"""A run's mirror against a store that goes away and comes back, without a training.

The mirror reaches the real store through the proxy of the tests
(tests/fixtures/store_proxy.py), which cuts its connections off as a tunnel
whose other end is gone, or holds an answer; the test reads what the store
holds directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from datayard.core.store import retry
from datayard.core.store.bucket import Bucket
from datayard.core.training.mirror import CHUNK_BYTES, Mirror, artifact_key
from tests.e2e.test_training import stored_chunks, stored_events
from tests.fixtures.datasets import fresh_bucket
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import StoreProxy, writes_to
from tests.fixtures.waits import LONG_S, until

RUN = "20261206-101500-0a1b2c"


def run_writes(method: str, path: str) -> bool:
    return method in ("PUT", "POST") and f"/runs/{RUN}/" in path.split("?")[0]


def event_line(seq: int, padding: int = 0) -> str:
    return json.dumps({"v": 1, "seq": seq, "type": "batch", "note": "x" * padding})


@pytest.fixture
def real(s3_server: S3Server) -> Bucket:
    """A fresh bucket, reached directly: what the test checks."""
    return fresh_bucket(s3_server)


@pytest.fixture
def mirror(
    real: Bucket, store_proxy: StoreProxy, s3_server: S3Server, tmp_path: Path
) -> Iterator[Mirror]:
    """A mirror of the run that reaches the same bucket through the proxy."""
    proxied = Bucket(replace(real.profile, endpoint=store_proxy.endpoint), s3_server.secret)
    found = Mirror(proxied, RUN, tmp_path / "run" / "mirror")
    yield found
    found.close()


def test_events_wait_in_order_while_the_store_is_away_and_all_reach_it_when_it_answers(
    mirror: Mirror, real: Bucket, store_proxy: StoreProxy
) -> None:
    lines = [event_line(seq) for seq in range(15)]
    for seq in range(5):
        mirror.add_line(seq, lines[seq])
    assert until(lambda: stored_events(real, RUN) == lines[:5])

    away = store_proxy.cut_off(run_writes)
    for seq in range(5, 10):
        mirror.add_line(seq, lines[seq])
    assert until(lambda: away.claimed >= 1)
    for seq in range(10, 15):
        mirror.add_line(seq, lines[seq])
    assert until(lambda: away.claimed >= 2)  # asked again: the events still wait
    assert stored_events(real, RUN) == lines[:5]
    assert mirror.unstored() == ("events/000000005.jsonl",)

    away.lift()
    assert mirror.wait(LONG_S)
    assert stored_events(real, RUN) == lines
    assert mirror.unstored() == ()


def test_an_events_chunk_that_got_no_answer_is_sent_again_unchanged(
    mirror: Mirror, real: Bucket, store_proxy: StoreProxy
) -> None:
    """A request that got no answer may yet be stored, late: the same key always gets the
    same lines, so such a copy can never make a chunk shorter than its successor expects."""
    lines = [event_line(seq) for seq in range(6)]
    away = store_proxy.cut_off(run_writes)
    for seq in range(3):
        mirror.add_line(seq, lines[seq])
    # The chunk of 0-2 got no answer as often as the retry policy tries one request.
    assert until(lambda: away.claimed >= retry.ATTEMPTS)
    for seq in range(3, 6):
        mirror.add_line(seq, lines[seq])

    away.lift()
    assert mirror.wait(LONG_S)
    assert stored_chunks(real, RUN) == [
        ("000000000.jsonl", lines[:3]),
        ("000000003.jsonl", lines[3:]),
    ]


def test_a_long_backlog_of_events_goes_in_chunks_of_bounded_size_in_order(
    mirror: Mirror, real: Bucket, store_proxy: StoreProxy
) -> None:
    away = store_proxy.cut_off(run_writes)
    lines = [event_line(seq, padding=1000) for seq in range(2600)]  # about 2.5 MiB
    for seq, line in enumerate(lines):
        mirror.add_line(seq, line)
    assert until(lambda: away.claimed >= 1)

    away.lift()
    assert mirror.wait(LONG_S)
    found = stored_chunks(real, RUN)
    assert len(found) >= 3
    assert all(sum(len(line) + 1 for line in names) <= CHUNK_BYTES for _, names in found)
    assert [line for _, names in found for line in names] == lines


def test_events_are_stored_while_a_file_upload_waits_for_its_answer(
    mirror: Mirror, real: Bucket, store_proxy: StoreProxy, tmp_path: Path
) -> None:
    held = store_proxy.hold(writes_to("/last.pt"))
    weights = tmp_path / "last.pt"
    weights.write_bytes(b"w" * 1000)
    mirror.add_file(weights, "train/weights/last.pt")
    assert held.holding.wait(LONG_S)

    mirror.add_line(0, event_line(0))
    assert until(lambda: stored_events(real, RUN) == [event_line(0)])
    held.release()
    assert mirror.wait(LONG_S)
    assert real.get_bytes(artifact_key(RUN, "train/weights/last.pt")) == weights.read_bytes()


def test_files_wait_in_order_while_the_store_is_away_keeping_the_newest_snapshot_only(
    mirror: Mirror, real: Bucket, store_proxy: StoreProxy, tmp_path: Path
) -> None:
    away = store_proxy.cut_off(run_writes)
    files = {name: tmp_path / name for name in ("args.yaml", "results.csv", "last.pt")}
    for name, path in files.items():
        path.write_text(f"{name} 1")
    mirror.put_text("spec.json", "{}")
    for name, path in files.items():
        mirror.add_file(path, f"train/{name}", snapshot=True)
    assert until(lambda: away.claimed >= 1)
    files["last.pt"].write_text("last.pt 2")  # a newer checkpoint replaces the waiting one
    mirror.add_file(files["last.pt"], "train/last.pt", snapshot=True)

    waiting = (tmp_path / "run" / "mirror").iterdir()
    assert [p.read_text() for p in waiting if p.name.endswith("last.pt")] == ["last.pt 2"]
    assert set(mirror.unstored()) == {
        "spec.json",
        "artifacts/train/args.yaml",
        "artifacts/train/results.csv",
        "artifacts/train/last.pt",
    }

    away.lift()
    assert mirror.wait(LONG_S)
    written = [path.split(f"/runs/{RUN}/")[1] for _, path in store_proxy.requests(run_writes)]
    assert written[away.claimed :] == [
        "spec.json",
        "artifacts/train/args.yaml",
        "artifacts/train/results.csv",
        "artifacts/train/last.pt",
    ]
    assert real.get_bytes(artifact_key(RUN, "train/last.pt")) == b"last.pt 2"
    assert mirror.unstored() == ()


def test_the_end_waits_for_a_store_that_comes_back_after_the_retry_policy_gave_up(
    mirror: Mirror, real: Bucket, store_proxy: StoreProxy, tmp_path: Path
) -> None:
    away = store_proxy.cut_off(run_writes)
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"b" * 1000)
    mirror.add_file(weights, "train/weights/best.pt")
    mirror.add_line(0, event_line(0))

    with ThreadPoolExecutor(1) as pool:
        waited = pool.submit(mirror.wait, LONG_S * 2)
        # More tries than the retry policy makes of one request: the store is away, not busy.
        assert until(lambda: store_proxy.count(writes_to("/best.pt")) > retry.ATTEMPTS)
        assert not waited.done()
        away.lift()
        assert waited.result()
    assert mirror.unstored() == ()
    assert real.get_bytes(artifact_key(RUN, "train/weights/best.pt")) == weights.read_bytes()
    assert stored_events(real, RUN) == [event_line(0)]


def test_a_store_still_away_at_the_end_is_named_in_what_the_store_lacks(
    mirror: Mirror, real: Bucket, store_proxy: StoreProxy, tmp_path: Path
) -> None:
    mirror.add_line(0, event_line(0))
    assert until(lambda: stored_events(real, RUN) == [event_line(0)])
    away = store_proxy.cut_off(run_writes)
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"b")
    mirror.add_file(weights, "train/weights/best.pt")
    mirror.add_line(1, event_line(1))

    assert not mirror.wait(0.5)
    assert mirror.unstored() == ("artifacts/train/weights/best.pt", "events/000000001.jsonl")
    assert away.claimed >= 1
    assert stored_events(real, RUN) == [event_line(0)]
