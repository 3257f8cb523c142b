"""Stop and pause requests read from the real store by a worker's watch, as its training's
hooks see them after each batch.

The watch reaches the store through the proxy of the tests, which counts its
requests: a look that finds nothing is one HEAD request, and what anyone else
wrote under the key is no request.
"""

from __future__ import annotations

from dataclasses import replace

from datayard.core.store.bucket import Bucket
from datayard.core.training import stored_control
from datayard.core.training.runs import Control
from datayard.core.training.stored_control import ControlWatch, control_key
from tests.fixtures.datasets import fresh_bucket
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import StoreProxy, request_to
from tests.fixtures.waits import until

RUN = "20261207-101500-0a1b2c"
INTERVAL_S = 0.05


def looks(proxy: StoreProxy) -> int:
    return proxy.count(request_to("HEAD", control_key(RUN)))


def test_a_workers_watch_hands_over_a_request_and_deletes_it_once_obeyed(
    s3_server: S3Server, store_proxy: StoreProxy
) -> None:
    real = fresh_bucket(s3_server)
    proxied = Bucket(replace(real.profile, endpoint=store_proxy.endpoint), s3_server.secret)
    watch = ControlWatch(proxied, RUN, interval_s=INTERVAL_S)
    try:
        assert until(lambda: looks(store_proxy) >= 2)
        assert watch.requested() is None
        assert store_proxy.count(request_to("GET", control_key(RUN))) == 0

        for other in (b"please stop", b"stop" * 100):  # not one word of Control
            real.put_bytes(control_key(RUN), other)
            seen = looks(store_proxy)
            assert until(lambda seen=seen: looks(store_proxy) >= seen + 2)
            assert watch.requested() is None

        stored_control.request(real, RUN, Control.PAUSE)

        assert until(lambda: watch.requested() is Control.PAUSE)
    finally:
        watch.close()
    assert not real.exists(control_key(RUN))  # obeyed: the resumed run trains on
    reads = store_proxy.count(request_to("GET", control_key(RUN)))
    assert reads == 2, "read once per object written, a large one never"


def test_a_request_written_after_the_one_obeyed_stays_for_the_next_worker(
    s3_server: S3Server,
) -> None:
    bucket = fresh_bucket(s3_server)
    stored_control.request(bucket, RUN, Control.PAUSE)
    watch = ControlWatch(bucket, RUN, interval_s=INTERVAL_S)
    try:
        assert until(lambda: watch.requested() is Control.PAUSE)
        stored_control.request(bucket, RUN, Control.STOP)
    finally:
        watch.close()
    assert bucket.get_bytes(control_key(RUN)) == b"stop"

    stored_control.clear(bucket, RUN)
    assert not bucket.exists(control_key(RUN))
