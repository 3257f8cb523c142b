"""A run on a host, followed from the store while the host cannot be reached.

Here the host reaches the store by itself: through the proxy of the tests
(tests/fixtures/store_proxy.py), listening on this machine's end of the link to
the host, so its worker mirrors its events there with no tunnel. When the host
refuses SSH and its connections are cut, the run trains on, and following it
goes on from the store's copy of its events; once the host answers again,
following goes back to it. A real tiny training on the host's CPU.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from datayard.core.events import Cancelled
from datayard.core.hosts.registry import Host
from datayard.core.training.backends import Backends
from datayard.core.training.mirror import events_key
from datayard.core.training.protocol import Finished, Preparing, Record, Setup, encode
from datayard.core.training.ssh import RemoteRun
from tests.e2e.test_messages_cli import closed_port
from tests.e2e.test_remote_training import drop_connections
from tests.fixtures.datasets import run_cli
from tests.fixtures.remote_host import HOST, host_events
from tests.fixtures.ssh_host import SshHost
from tests.fixtures.store_proxy import Failure, StoreProxy, request_to
from tests.fixtures.training import TrainingStore
from tests.fixtures.waits import until


@pytest.fixture
def host_proxy(remote: SshHost, training_store: TrainingStore) -> Iterator[StoreProxy]:
    """A proxy in front of the session's store that the host reaches directly."""
    proxy = StoreProxy(training_store.server.endpoint, remote.machine_address)
    yield proxy
    proxy.close()


def test_a_run_whose_host_cannot_be_reached_is_followed_from_the_store_until_it_answers(
    remote: SshHost,
    training_store: TrainingStore,
    host_proxy: StoreProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backends = Backends.default()
    backends.ssh.reconnect_delays_s = (1.0,)
    spec = training_store.spec(profile=training_store.through(host_proxy), epochs=2)
    folder = backends.launch(spec, training_store.ref, host=HOST)
    assert RemoteRun.read(folder).tunnel_port == 0  # the host reaches the store by itself

    records: list[Record] = []
    unseen: int | None = None
    """The first event the host wrote once it could no longer be reached over SSH."""
    store_reads: list[Failure] = []
    cancel = threading.Event()

    def host_back() -> None:
        """The host answers once the store cannot be read either, so that the events
        after that come from the host alone; a follower that got none from the store
        while the host was away is cancelled."""
        if not until(lambda: bool(store_reads) and store_reads[0].claimed > 0):
            cancel.set()
        remote.accept_connections()

    watcher = threading.Thread(target=host_back)
    try:
        with caplog.at_level(logging.WARNING, "datayard.core.training.ssh"):
            for record in backends.follow(folder, cancel):
                records.append(record)
                if isinstance(record.event, Setup):
                    remote.refuse_connections()
                    drop_connections(remote)
                    unseen = len(host_events(remote, folder).splitlines())
                    watcher.start()
                elif unseen is not None and record.seq >= unseen and not store_reads:
                    # From the store: no connection to the host was open since it was written.
                    store_reads.append(host_proxy.cut_off(request_to("GET", "/events/")))
    except Cancelled:
        pytest.fail("no event came from the store while the host could not be reached")
    finally:
        if watcher.is_alive():
            watcher.join()
        remote.accept_connections()
        backends.close()

    assert store_reads, "no event came from the store while the host could not be reached"
    assert isinstance(records[-1].event, Finished)
    assert [r.seq for r in records] == list(range(len(records)))  # no gap, no repeat
    assert folder.events_file.read_text() == host_events(remote, folder)
    said = caplog.messages
    assert f"host '{HOST}' unreachable: following run {folder.run_id} from the store" in said
    assert any("the store cannot be read either" in message for message in said), said


def test_a_run_that_ended_is_followed_to_its_end_from_the_store_while_its_host_is_gone(
    training_store: TrainingStore, tmp_path: Path
) -> None:
    backends = Backends.default()
    backends.hosts.add(Host("gone", f"someone@127.0.0.1:{closed_port()}"))
    folder = backends.registry.create(training_store.spec(), training_store.ref, "ssh:gone")
    RemoteRun("gone", "/srv/datayard/runs/gone", "/usr/bin/python3").write(folder)
    events = [Preparing(phase="pulling", done=done, total=3) for done in range(4)]
    ending = Finished(epochs_done=1, best_epoch=1, weights=("train/weights/best.pt",))
    lines = [encode(event, seq) for seq, event in enumerate([*events, ending])]
    folder.events_file.write_text(f"{lines[0]}\n")  # followed once, before the host went
    stored = ["".join(f"{line}\n" for line in part) for part in (lines[:3], lines[3:])]
    training_store.bucket.put_bytes(events_key(folder.run_id, 0), stored[0].encode())
    training_store.bucket.put_bytes(events_key(folder.run_id, 3), stored[1].encode())

    followed = run_cli("logs", folder.run_id, "--follow")

    assert followed.returncode == 0, followed.stderr
    assert "finished after 1 epochs" in followed.stdout
    assert "cannot reach host 'gone'" in followed.stderr and "trying again" in followed.stderr
    said = f"host 'gone' unreachable: following run {folder.run_id} from the store"
    assert followed.stderr.count(said) == 1, followed.stderr
    assert folder.events_file.read_text() == "".join(stored)
    assert folder.summary().status.value == "finished"
