"""A run on a host whose store's TLS certificate a private CA signed.

The store is behind a TLS front (the proxy of the tests, tests/fixtures/store_proxy.py)
whose certificate the session's private CA signed. The front listens on this
machine's end of the link to the host, which reaches it by itself, or on an address
that only this computer reaches, which the host reaches through the run's tunnel.
The CA is in no system bundle: the host trusts it only through the profile's
``ca_bundle``, a file of this computer that the host cannot read. Each run is
stopped once it has pulled its dataset (at its setup event): that is as far as the
TLS path goes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from datayard.core.errors import ConfigError, TLSError
from datayard.core.hosts.registry import Host
from datayard.core.store.s3 import check_profile
from datayard.core.training.backends import Backends
from datayard.core.training.protocol import Failed, Paused, Record, Setup, Stopped
from datayard.core.training.runs import RunFolder
from datayard.core.training.ssh import RemoteRun
from tests.e2e.test_messages_cli import closed_port
from tests.e2e.test_remote_training import secret_on_host
from tests.fixtures.private_ca import PrivateCA
from tests.fixtures.privileges import unprivileged_prefix
from tests.fixtures.remote_host import HOST
from tests.fixtures.services import datayard_command
from tests.fixtures.ssh_host import SshHost
from tests.fixtures.store_proxy import StoreProxy
from tests.fixtures.training import TrainingStore


@pytest.fixture
def tls_front(
    remote: SshHost, training_store: TrainingStore, private_ca: PrivateCA, tmp_path: Path
) -> Iterator[StoreProxy]:
    """The session's store behind HTTPS, with a certificate for the address the host
    reaches it at."""
    tls = private_ca.server_context(remote.machine_address, tmp_path)
    front = StoreProxy(training_store.server.endpoint, remote.machine_address, tls=tls)
    yield front
    front.close()


LONG = 50
"""Epochs enough that a pause or stop asked for at setup lands before the run ends."""


def pulled_then(
    backends: Backends, folder: RunFolder, action: Callable[[RunFolder], None], from_seq: int = 0
) -> list[Record]:
    """The run's events to its end, ``action`` taken once its dataset is pulled."""
    records = []
    for record in backends.follow(folder, from_seq=from_seq):
        records.append(record)
        if isinstance(record.event, Setup):
            action(folder)
    return records


def test_a_run_on_a_host_trusts_the_private_ca_that_its_profile_names_and_resumes_so(
    remote: SshHost, training_store: TrainingStore, tls_front: StoreProxy, private_ca: PrivateCA
) -> None:
    backends = Backends.default()
    untrusting = training_store.through(tls_front)
    refused = backends.launch(
        training_store.spec(profile=untrusting), training_store.ref, host=HOST
    )
    failed = list(backends.follow(refused))[-1].event
    assert isinstance(failed, Failed) and failed.reason == "store", failed
    assert "the TLS connection failed (certificate: UnknownIssuer)" in failed.message

    trusting = training_store.through(tls_front, ca_bundle=str(private_ca.bundle))
    spec = training_store.spec(profile=trusting, epochs=LONG)
    folder = backends.launch(spec, training_store.ref, host=HOST)
    paused = pulled_then(backends, folder, backends.pause)
    backends.resume(folder)
    resumed = pulled_then(backends, folder, backends.stop, from_seq=paused[-1].seq + 1)
    backends.close()

    assert any(isinstance(r.event, Setup) for r in paused), paused[-1].event
    assert isinstance(paused[-1].event, Paused)
    assert any(isinstance(r.event, Setup) for r in resumed), resumed[-1].event
    assert isinstance(resumed[-1].event, Stopped)
    on_host = RemoteRun.read(folder).folder
    copied = remote.run_as_user("cat", f"{on_host}/ca-bundle.pem")
    assert copied.stdout == private_ca.bundle.read_text()
    assert secret_on_host(remote, training_store.server.secret) == []


ELSEWHERE = "127.0.0.2"
"""An address of this machine that is not the loopback address the embedded store uses,
and that the host does not reach (its loopback is its own): as a store that only this
computer's network reaches."""


@pytest.fixture
def front_elsewhere(
    training_store: TrainingStore, private_ca: PrivateCA, tmp_path: Path
) -> Iterator[StoreProxy]:
    tls = private_ca.server_context(ELSEWHERE, tmp_path)
    front = StoreProxy(training_store.server.endpoint, ELSEWHERE, tls=tls)
    yield front
    front.close()


def test_a_store_with_tls_that_only_this_computer_reaches_is_reached_through_the_tunnel(
    remote: SshHost,
    training_store: TrainingStore,
    front_elsewhere: StoreProxy,
    private_ca: PrivateCA,
) -> None:
    backends = Backends.default()
    profile = training_store.through(front_elsewhere, ca_bundle=str(private_ca.bundle))
    spec = training_store.spec(profile=profile, epochs=LONG)
    folder = backends.launch(spec, training_store.ref, host=HOST)
    records = pulled_then(backends, folder, backends.stop)
    backends.close()

    assert RemoteRun.read(folder).tunnel_port != 0  # the host could not reach the store
    assert any(isinstance(r.event, Setup) for r in records), records[-1].event
    assert isinstance(records[-1].event, Stopped)


def test_through_a_tunnel_the_certificate_is_checked_for_the_stores_own_name(
    training_store: TrainingStore, private_ca: PrivateCA, tmp_path: Path
) -> None:
    """As the worker on a host meets a tunnelled store: at a port of its loopback, with a
    certificate that names the store."""
    front = StoreProxy(
        training_store.server.endpoint, tls=private_ca.server_context("store.lab", tmp_path)
    )
    tunnelled = replace(
        training_store.profile(), endpoint=front.endpoint, ca_bundle=str(private_ca.bundle)
    )
    secret = training_store.server.secret
    try:
        check_profile(replace(tunnelled, tls_hostname="store.lab"), secret)
        for name in ("", "other.lab"):
            with pytest.raises(TLSError, match="mismatch, certificate is not valid for"):
                check_profile(replace(tunnelled, tls_hostname=name), secret)
    finally:
        front.close()


@pytest.fixture
def nowhere(training_store: TrainingStore) -> Backends:
    """The backends with a host that nothing answers for: a launch that gets as far as
    logging in fails there."""
    backends = Backends.default()
    backends.hosts.add(Host("gone", f"someone@127.0.0.1:{closed_port()}"))
    return backends


@pytest.fixture
def front_here(
    training_store: TrainingStore, private_ca: PrivateCA, tmp_path: Path
) -> Iterator[StoreProxy]:
    """The session's store behind HTTPS on this machine's loopback."""
    tls = private_ca.server_context("127.0.0.1", tmp_path)
    front = StoreProxy(training_store.server.endpoint, tls=tls)
    yield front
    front.close()


def test_a_bundle_that_cannot_serve_is_named_with_its_profile_before_a_run_is_made(
    nowhere: Backends,
    training_store: TrainingStore,
    front_here: StoreProxy,
    private_ca: PrivateCA,
    tmp_path: Path,
) -> None:
    der = tmp_path / "lab-ca.der"  # the CA's certificate, but not in PEM
    der.write_bytes(private_ca.certificate.public_bytes(Encoding.DER))
    profile = training_store.through(front_here, ca_bundle=str(der))

    with pytest.raises(ConfigError) as refused:
        nowhere.launch(training_store.spec(profile=profile), training_store.ref, host="gone")

    assert str(refused.value) == (
        f"profile '{profile}': its CA bundle {der} holds no PEM certificate "
        "(-----BEGIN CERTIFICATE-----): name the PEM file of the authority that signs the "
        "store's certificate"
    )
    assert list(nowhere.registry) == []


def test_a_bundle_this_computer_cannot_read_is_named_with_its_profile(
    nowhere: Backends,
    training_store: TrainingStore,
    front_here: StoreProxy,
    private_ca: PrivateCA,
    tmp_path: Path,
) -> None:
    locked = tmp_path / "lab-ca.pem"
    locked.write_bytes(private_ca.bundle.read_bytes())
    locked.chmod(0)
    probe = tmp_path / "probe"
    probe.mkdir(mode=0)
    prefix = unprivileged_prefix(probe)
    profile = training_store.through(front_here, ca_bundle=str(locked))

    done = subprocess.run(
        [*prefix, *datayard_command("train", "me/shapes", "--on", "gone", "--profile", profile)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: profile '{profile}': its CA bundle {locked} cannot be read (Permission denied)\n"
    )
    assert list(nowhere.registry) == []
