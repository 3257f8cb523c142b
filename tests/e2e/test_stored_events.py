"""A run's events read back from the real store: the chunks a worker's mirror wrote, and
chunks that someone else wrote under those keys.

The reader goes through the proxy of the tests (tests/fixtures/store_proxy.py),
which counts the requests: a read fetches only the chunks that may hold the
events asked for.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from datayard.core.store.bucket import Bucket
from datayard.core.training.mirror import Mirror, events_key
from datayard.core.training.protocol import Preparing, encode
from datayard.core.training.stored_events import MAX_CHUNK_BYTES, StoredEvents
from tests.fixtures.datasets import fresh_bucket
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import StoreProxy
from tests.fixtures.waits import LONG_S

RUN = "20261206-101500-0a1b2c"


def line(seq: int) -> str:
    return encode(Preparing(phase="pulling", done=seq, total=100, time=1.0), seq)


def chunk(*seqs: int) -> bytes:
    return "".join(f"{line(seq)}\n" for seq in seqs).encode()


def read(events: StoredEvents, from_seq: int = 0) -> list[int]:
    records = list(events.since(from_seq))
    assert all(record.line == line(record.seq) for record in records)
    return [record.seq for record in records]


@pytest.fixture
def real(s3_server: S3Server) -> Bucket:
    """A fresh bucket, reached directly: where the test writes."""
    return fresh_bucket(s3_server)


@pytest.fixture
def proxied(real: Bucket, store_proxy: StoreProxy, s3_server: S3Server) -> Bucket:
    """The same bucket through the proxy, which counts the reader's requests."""
    return Bucket(replace(real.profile, endpoint=store_proxy.endpoint), s3_server.secret)


def chunks_fetched(proxy: StoreProxy) -> list[str]:
    """The chunks the reader fetched, by name, in order."""
    gets = proxy.requests(lambda method, path: method == "GET" and "/events/" in path)
    return [path.rsplit("/", 1)[1] for _, path in gets]


def test_the_mirrors_chunks_are_read_from_any_event_fetching_only_those_that_hold_it(
    real: Bucket, proxied: Bucket, store_proxy: StoreProxy, tmp_path: Path
) -> None:
    mirror = Mirror(real, RUN, tmp_path / "mirror")
    for seq in range(15):
        mirror.add_line(seq, line(seq))
        if seq % 5 == 4:  # a chunk of five events each time the store answers
            assert mirror.wait(LONG_S)
    stored = sorted(item.key.rsplit("/", 1)[1] for item in real.objects(f"runs/{RUN}/events/"))
    holding_7 = max(name for name in stored if int(name[:9]) <= 7)
    events = StoredEvents(proxied, RUN)

    assert read(events, 7) == list(range(7, 15))
    assert chunks_fetched(store_proxy) == stored[stored.index(holding_7) :]
    assert holding_7 != stored[0]
    assert read(events, 15) == []

    for seq in range(15, 18):
        mirror.add_line(seq, line(seq))
    mirror.close()
    assert read(events, 15) == [15, 16, 17]  # listed again: the chunk stored since
    assert read(events) == list(range(18))
    assert read(StoredEvents(proxied, "20261206-101500-ffffff")) == []


@pytest.mark.parametrize(
    ("name", "body", "last"),
    [
        ("not an event", chunk(3) + b"not json\n" + chunk(4), 3),
        ("an event out of sequence", chunk(3, 5), 3),
        ("the same event twice", chunk(3, 3, 4), 3),
        ("a chunk named for another event", chunk(4, 5), 2),
        ("a cut line", chunk(3) + line(4).encode()[:-5], 3),
        ("bytes that are not UTF-8", chunk(3) + b"\xff\xfe\n", 3),
        ("another protocol version", line(3).replace('"v":1', '"v":2').encode() + b"\n", 2),
        ("an empty chunk", b"", 2),
        ("more than a chunk holds", chunk(3) + b" " * MAX_CHUNK_BYTES + b"\n", 2),
    ],
)
def test_hostile_chunks_end_the_read_at_the_last_good_event_saying_so_once(
    real: Bucket, caplog: pytest.LogCaptureFixture, name: str, body: bytes, last: int
) -> None:
    real.put_bytes(events_key(RUN, 0), chunk(0, 1, 2))
    real.put_bytes(events_key(RUN, 3), body)
    real.put_bytes(events_key(RUN, 6), chunk(6, 7))
    events = StoredEvents(real, RUN)

    with caplog.at_level(logging.WARNING, "datayard.core.training.stored_events"):
        assert read(events) == list(range(last + 1)), name
        assert read(events, 2) == list(range(2, last + 1)), name

    (warning,) = [
        r.getMessage() for r in caplog.records if r.name == "datayard.core.training.stored_events"
    ]
    assert f"stops at {events_key(RUN, 3)}: " in warning


def test_chunks_that_do_not_follow_each_other_end_the_read(real: Bucket) -> None:
    real.put_bytes(events_key(RUN, 0), chunk(0, 1, 2))
    real.put_bytes(events_key(RUN, 2), chunk(2, 3))  # overlaps the one before
    real.put_bytes(events_key(RUN, 10), chunk(10, 11))  # after a gap

    assert read(StoredEvents(real, RUN)) == [0, 1, 2]
    assert read(StoredEvents(real, RUN), 10) == [10, 11]
    real.remove([events_key(RUN, 0)])
    assert read(StoredEvents(real, RUN), 1) == []  # the store lacks the beginning


def test_keys_that_name_no_chunk_are_passed_over(real: Bucket) -> None:
    real.put_bytes(events_key(RUN, 0), chunk(0, 1))
    real.put_bytes(f"runs/{RUN}/events/2.jsonl", chunk(2))
    real.put_bytes(f"runs/{RUN}/events/0000000002.jsonl", chunk(2))
    real.put_bytes(f"runs/{RUN}/events/000000002.json", chunk(2))
    real.put_bytes(f"runs/{RUN}/events/notes.txt", b"hello\n")
    real.put_bytes(f"runs/{RUN}/events/x/000000002.jsonl", chunk(2))
    real.put_bytes(events_key(RUN, 2), chunk(2, 3))

    assert read(StoredEvents(real, RUN)) == [0, 1, 2, 3]
