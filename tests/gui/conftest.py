"""GUI tests fail when they leave a worker thread running: the app must join its threads."""

from __future__ import annotations

import gc
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from PySide6.QtCore import QThreadPool

from datayard.core.secrets import SecretStore
from datayard.core.store import s3
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.gui.heap import UiThreadCollector
from datayard.gui.workers import any_running
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import Hold, StoreProxy, blob_request


@pytest.fixture(autouse=True)
def collected_on_the_ui_thread(qapp: object) -> Iterator[None]:
    """As in the app (gui.heap): a worker's collection must not free a widget of an
    earlier test off the UI thread. What a test froze and left is collected here."""
    collector = UiThreadCollector(busy=any_running)
    yield
    collector.stop()
    gc.unfreeze()
    gc.collect()


@pytest.fixture(autouse=True)
def no_leaked_threads(qapp: object, collected_on_the_ui_thread: None) -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    pool = QThreadPool.globalInstance()
    # Widgets closed by the test have been asked to stop their work; a worker
    # still running a few seconds later is one nobody will stop.
    assert pool.waitForDone(10_000), f"{pool.activeThreadCount()} Qt worker thread(s) leaked"
    leaked = [
        t
        for t in set(threading.enumerate()) - before
        if t.is_alive() and not t.daemon and not t.name.startswith("Dummy")
    ]
    for thread in leaked:
        thread.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running: {still}"


@pytest.fixture
def bucket(secret_service: str, s3_server: S3Server, store_proxy: StoreProxy) -> Bucket:
    """A fresh bucket behind the default profile 'lab', its secret in the real keyring.

    The app reaches it through the proxy (see ``held_uploads``); the bucket
    returned is reached directly.
    """
    profile = s3_server.profile(name="lab", bucket=f"g-{uuid.uuid4().hex[:12]}")
    s3.create_bucket(profile, s3_server.secret)
    workspace = Workspace.default()
    through_proxy = replace(profile, endpoint=store_proxy.endpoint)
    workspace.save(replace(workspace.settings().with_profile(through_proxy), default_profile="lab"))
    SecretStore().set("lab", s3_server.secret)
    return Bucket(profile, s3_server.secret)


@pytest.fixture
def held_uploads(
    store_proxy: StoreProxy, caplog: pytest.LogCaptureFixture
) -> Iterator[Callable[[int], Hold]]:
    """``held_uploads(n)``: after ``n`` blobs, uploads wait until the push is asked to stop.

    A test that stops a push then never races its end: after the stop, the push
    only finishes the uploads it had in hand. Its process says when the word to
    stop arrived (a log record, at the level the app had when it started it).
    """
    caplog.set_level(logging.INFO)
    holds: list[Hold] = []

    class ReleaseOnStop(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "was asked to stop" in record.getMessage():
                for hold in holds:
                    hold.release()

    handler = ReleaseOnStop()
    logger = logging.getLogger("datayard.core.child_process")
    logger.addHandler(handler)

    def after(blobs: int) -> Hold:
        holds.append(store_proxy.hold(blob_request("PUT"), after=blobs))
        return holds[-1]

    yield after
    logger.removeHandler(handler)
