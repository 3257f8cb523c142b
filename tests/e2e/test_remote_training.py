"""Training on a host over SSH, end to end: a real sshd in its own network namespace,
real tiny trainings on its CPU, the session's store on this machine's loopback.

The host cannot reach that store (its 127.0.0.1 is its own), so every run here
pulls its dataset and mirrors its results through the tunnel over its SSH
connection: the path the embedded store always takes.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import psutil
import pytest

from datayard.core.errors import HostConnectionError
from datayard.core.training.backends import Backends
from datayard.core.training.mirror import artifact_key
from datayard.core.training.protocol import Epoch, Finished, Paused, Preparing, Record, Stopped
from datayard.core.training.runs import EventLog, RunStatus
from datayard.core.training.ssh import RemoteRun
from tests.fixtures.datasets import run_cli
from tests.fixtures.remote_host import HOST, host_events
from tests.fixtures.ssh_host import SshHost
from tests.fixtures.training import PROFILE, TrainingStore
from tests.fixtures.waits import until

TUNNEL_PORT = 40_000
TINY = ("--epochs", "2", "--batch", "4", "--imgsz", "64", "--workers", "0", "--device", "cpu")


def secret_on_host(host: SshHost, secret: str) -> list[str]:
    """Every file of the host's user and every argument and environment of its
    processes that holds ``secret``."""
    found = host.run_as_user("grep", "-rlF", "--", secret, str(host.home))
    places = found.stdout.split()
    for process in psutil.process_iter(["username", "pid"]):
        if process.info["username"] != host.user:
            continue
        try:
            if secret in " ".join(process.cmdline()) or secret in str(process.environ()):
                places.append(f"process {process.pid}: {process.cmdline()}")
        except psutil.Error:
            continue
    return places


def test_a_run_on_a_host_is_launched_followed_and_fetched_through_a_tunnel(
    remote: SshHost, training_store: TrainingStore, tmp_path: Path
) -> None:
    trained = run_cli("train", "me/shapes", "--on", HOST, *TINY, "--no-plots", "--profile", PROFILE)

    assert trained.returncode == 0, trained.stderr
    assert "2/2" in trained.stdout and "finished" in trained.stdout
    (listed,) = json.loads(run_cli("runs", "--json").stdout)
    assert listed["where"] == HOST and listed["status"] == "finished"
    folder = Backends.default().registry.get(listed["run"])
    # The copy here is the host's events file, line for line.
    assert folder.events_file.read_text() == host_events(remote, folder)
    fetched = run_cli("fetch", listed["run"], str(tmp_path / "results"), "--profile", PROFILE)
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "results" / "weights" / "best.pt").stat().st_size > 1_000_000
    assert (tmp_path / "results" / "results.csv").read_text().count("\n") == 3
    assert secret_on_host(remote, training_store.server.secret) == []


def test_a_lost_connection_is_re_attached_with_every_event_once_and_controls_reach_the_host(
    remote: SshHost, training_store: TrainingStore
) -> None:
    backends = Backends.default()
    # Long enough that no run ends before a pause or stop reaches it over SSH, which
    # under load can take a few of these one-second epochs.
    spec = training_store.spec(epochs=100)
    folder = backends.launch(spec, training_store.ref, host=HOST)
    secret = training_store.server.secret

    records: list[Record] = []
    cut = paused = stopped = False
    for record in backends.follow(folder):
        records.append(record)
        if isinstance(record.event, Epoch) and not cut:
            cut = True
            assert secret_on_host(remote, secret) == []  # while the worker runs, too
            drop_connections(remote)
        elif isinstance(record.event, Epoch) and not paused:
            paused = True
            backends.pause(folder)
    assert isinstance(records[-1].event, Paused)
    assert folder.summary().status is RunStatus.PAUSED

    backends.resume(folder)
    for record in backends.follow(folder, from_seq=records[-1].seq + 1):
        records.append(record)
        if isinstance(record.event, Epoch) and not stopped:
            stopped = True
            backends.stop(folder)
    backends.close()

    assert isinstance(records[-1].event, Stopped)
    assert [r.seq for r in records] == list(range(len(records)))  # no gap, no repeat
    assert folder.events_file.read_text() == host_events(remote, folder)
    assert not any(isinstance(r.event, Finished) for r in records)
    assert secret_on_host(remote, secret) == []


def test_a_run_whose_host_restarted_and_lost_its_folder_resumes_from_the_store(
    remote: SshHost, training_store: TrainingStore
) -> None:
    backends = Backends.default()
    folder = backends.launch(training_store.spec(epochs=3), training_store.ref, host=HOST)
    on_host = RemoteRun.read(folder).folder
    stored = artifact_key(folder.run_id, "train/weights/last.pt")
    for record in backends.follow(folder):
        if isinstance(record.event, Epoch) and record.event.epoch == 1:
            assert until(lambda: training_store.bucket.exists(stored)), "no checkpoint stored"
            restart_under(remote, on_host)
    backends.close()
    failed = folder.summary()
    assert failed.status is RunStatus.FAILED and failed.epochs_done >= 1
    assert "the machine restarted while the run trained" in failed.message
    assert f"`datayard resume {folder.run_id}` continues it" in failed.message
    wiped = remote.run_as_user("rm", "-rf", on_host)
    assert wiped.returncode == 0, wiped.stderr

    resumed = run_cli("resume", folder.run_id)

    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at epoch 2 of 3" in resumed.stdout  # the store's copy: epoch 1's
    assert "finished after 3 epochs" in resumed.stdout
    records = EventLog(folder.events_file).read_new()
    assert [r.seq for r in records] == list(range(len(records)))  # one stream, no gap
    phases = {r.event.phase for r in records if isinstance(r.event, Preparing)}
    assert "fetching the checkpoint" in phases
    assert folder.summary().status is RunStatus.FINISHED


def restart_under(host: SshHost, run_folder: str) -> None:
    """What a restart of the host does to a run's worker: it is gone, and its pid file
    names a boot before this one. The worker is held while its pid file is rewritten, so
    that the host sees the restart, not a worker that died."""
    pid_file = f"{run_folder}/worker.pid"
    pid, machine = host.run_as_user("cat", pid_file).stdout.split()
    name, boot, namespace = machine.rsplit("/", 2)
    psutil.Process(int(pid)).suspend()
    before = f"{pid} {name}/{'0' * 8}{boot[8:]}/{namespace}"
    moved = host.run_as_user(
        "sh", "-c", 'printf %s "$1" > "$2.new" && mv "$2.new" "$2"', "-", before, pid_file
    )
    assert moved.returncode == 0, moved.stderr
    psutil.Process(int(pid)).kill()


def drop_connections(host: SshHost) -> None:
    """Cut every SSH connection to the host, as a network failure does: the sshd
    processes serving its user end, the worker (in a session of its own) goes on."""
    cut = 0
    for process in psutil.process_iter(["name", "cmdline"]):
        if (process.info["name"] or "").startswith("sshd") and any(
            f"{host.user}@" in part for part in process.info["cmdline"] or ()
        ):
            process.kill()
            cut += 1
    assert cut, "no SSH connection to the host was found to cut"


def test_a_gpu_the_host_lacks_is_refused_before_anything_starts(
    remote: SshHost, training_store: TrainingStore
) -> None:
    refused = run_cli(
        "train", "me/shapes", "--on", HOST, *TINY[:-2], "--device", "0", "--profile", PROFILE
    )

    assert refused.returncode == 2
    assert f"host '{HOST}' has no GPU" in refused.stderr and "--device cpu" in refused.stderr
    assert json.loads(run_cli("runs", "--json").stdout) == []


def test_a_run_that_needs_this_computer_is_not_detached(
    remote: SshHost, training_store: TrainingStore
) -> None:
    refused = run_cli("train", "me/shapes", "--on", HOST, *TINY, "--profile", PROFILE, "--detach")

    assert refused.returncode == 2
    assert "cannot reach the store" in refused.stderr and "without --detach" in refused.stderr
    assert json.loads(run_cli("runs", "--json").stdout) == []


def test_a_follower_and_a_control_reconnecting_at_once_share_one_tunnel(
    remote: SshHost, training_store: TrainingStore
) -> None:
    """As in the app: after a restart its follower and a button's control both log in to
    the run's host at the same moment; only one connection may take the tunnel's port."""
    backends = Backends.default()
    folder = backends.registry.create(training_store.spec(), training_store.ref, f"ssh:{HOST}")
    RemoteRun(HOST, f"/tmp/{folder.run_id}", str(remote.python), TUNNEL_PORT, 9).write(folder)
    start = threading.Barrier(2)
    answers: list[Exception] = []

    def ask() -> None:
        start.wait()
        try:
            backends.ssh.alive(folder)
        except Exception as error:
            answers.append(error)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Both reached the host, which knows no such run; neither was refused the tunnel.
    assert len(answers) == 2 and all("not a run's folder" in str(a) for a in answers), answers
    # Another connection is refused the port while this one holds it, saying so (a
    # follower tries again later).
    with pytest.raises(HostConnectionError, match=f"tunnel .* on its port {TUNNEL_PORT}"):
        Backends.default().ssh.alive(folder)
    backends.close()
