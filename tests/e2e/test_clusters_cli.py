"""``datayard cluster`` and ``train --on CLUSTER --dry-run`` as a user runs them. No
Kubernetes API server can run here: the kubeconfig points at a port where nothing listens,
and the dry run sends nothing anyway."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from datayard.core.clusters.manifests import job_name
from datayard.core.store.bucket import Bucket
from datayard.core.training.backends import Backends
from datayard.core.training.mirror import events_key
from datayard.core.training.protocol import (
    Epoch,
    Failed,
    Paused,
    Preparing,
    TrainingEvent,
    encode,
)
from datayard.core.training.stored_control import control_key
from datayard.core.training.stored_events import StoredEvents
from tests.core.test_cluster_api import ApiServer, closed_port, kubeconfig, status
from tests.fixtures.cluster_api import JOBS, PODS, SECRETS
from tests.fixtures.datasets import add_profile, fresh_bucket, publish, run_cli, sample_files
from tests.fixtures.pods import one_epoch
from tests.fixtures.services import S3Server, datayard_command
from tests.fixtures.store_proxy import StoreProxy
from tests.fixtures.waits import LONG_S, until

IMAGE = "registry.lab/ml/datayard-worker:0.1.0"


def add_cluster(config: Path, name: str = "gpu", *options: str) -> None:
    added = run_cli(
        "cluster", "add", name, "--kubeconfig", str(config), "--namespace", "ml",
        "--image", IMAGE, *options,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr


def test_clusters_are_added_listed_tested_and_removed(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "config", f"http://127.0.0.1:{closed_port()}")
    add_cluster(config, "gpu", "--toleration", "nvidia.com/gpu:NoSchedule", "--cache-pvc", "c")
    listed = run_cli("cluster", "list")
    assert "gpu" in listed.stdout and IMAGE in listed.stdout
    again = run_cli("cluster", "add", "gpu", "--namespace", "ml", "--image", IMAGE)
    assert again.returncode == 2 and "exists" in again.stderr

    tested = run_cli("cluster", "test", "gpu")
    assert tested.returncode == 1
    assert "does not answer (connection refused)" in tested.stdout
    assert "check that the cluster is up" in tested.stdout
    assert "Traceback" not in tested.stdout + tested.stderr

    removed = run_cli("cluster", "remove", "gpu")
    assert removed.returncode == 0, removed.stderr
    assert "gpu" not in run_cli("cluster", "list").stdout


def test_a_name_is_a_host_or_a_cluster_never_both(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "config", "http://127.0.0.1:1")
    add_cluster(config, "gpu")
    host = run_cli("host", "add", "gpu", "ada@gpu-box")
    assert host.returncode == 2
    assert "'gpu' is the name of a cluster" in host.stderr


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (("--namespace", "ML"), "not a Kubernetes name"),
        (("--toleration", "gpu"), "KEY[=VALUE]:EFFECT"),
        (("--shm-size", "64Gi"), "counts against the pod's memory"),
        (("--context", "prod"), "has no context 'prod'"),
    ],
)
def test_values_kubernetes_would_refuse_are_refused_at_add(
    tmp_path: Path, option: tuple[str, str], words: str
) -> None:
    config = kubeconfig(tmp_path / "config", "http://127.0.0.1:1")
    added = run_cli(
        "cluster", "add", "gpu", "--kubeconfig", str(config), "--namespace", "ml",
        "--image", IMAGE, *option,
    )  # fmt: skip
    assert added.returncode == 2
    assert words in added.stderr
    assert "Traceback" not in added.stderr


def this_machine_address() -> str:
    """An address of this machine that is not its loopback (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("this machine has no address but its loopback")
    return address


@pytest.mark.usefixtures("secret_service")
def test_a_dry_run_prints_the_objects_without_the_secret_and_changes_nothing(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket: Bucket = fresh_bucket(s3_server)
    publish(bucket, "ada/cats", sample_files())
    proxy = StoreProxy(s3_server.endpoint, this_machine_address())
    try:
        add_profile(s3_server, bucket, "lab", endpoint=proxy.endpoint)
        add_cluster(kubeconfig(tmp_path / "config", f"http://127.0.0.1:{closed_port()}"))
        shown = run_cli(
            "train", "ada/cats", "--on", "gpu", "--gpus", "2", "--dry-run", "--profile", "lab"
        )
    finally:
        proxy.close()
    assert shown.returncode == 0, shown.stderr
    assert s3_server.secret not in shown.stdout + shown.stderr
    secret, job = yaml.safe_load_all(shown.stdout)
    assert secret["kind"] == "Secret" and secret["stringData"] == {"credentials.json": "REDACTED"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["image"] == IMAGE
    assert not list(bucket.objects("runs/"))
    runs = run_cli("runs")
    assert "no runs yet" in runs.stderr
    unknown = run_cli("train", "ada/cats", "--on", f"x{uuid.uuid4().hex[:6]}", "--dry-run")
    assert unknown.returncode == 2
    assert "--on CLUSTER" in unknown.stderr


@pytest.fixture
def lab(s3_server: S3Server, secret_service: object) -> Iterator[Bucket]:
    """The store of profile ``lab``, reached at an address that pods could reach, with a
    dataset ``ada/cats``."""
    bucket: Bucket = fresh_bucket(s3_server)
    publish(bucket, "ada/cats", sample_files())
    proxy = StoreProxy(s3_server.endpoint, this_machine_address())
    add_profile(s3_server, bucket, "lab", endpoint=proxy.endpoint)
    yield bucket
    proxy.close()


def launch(api: ApiServer, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    if not (tmp_path / "config").exists():
        add_cluster(kubeconfig(tmp_path / "config", api.url))
    return run_cli("train", "ada/cats", "--on", "gpu", "--profile", "lab", *options)


def stored_keys(bucket: Bucket) -> list[str]:
    return sorted(item.key for item in bucket.objects("runs/"))


def test_a_launch_stores_the_spec_before_the_job_and_nothing_when_the_cluster_refuses(
    lab: Bucket, api: ApiServer, tmp_path: Path
) -> None:
    in_store_at_submit: list[list[str]] = []
    api.arrived = lambda method, path: (
        in_store_at_submit.append(stored_keys(lab)) if (method, path) == ("POST", JOBS) else None
    )

    launched = launch(api, tmp_path, "--gpus", "1")

    assert launched.returncode == 0, launched.stderr
    run_id = launched.stdout.strip()
    assert in_store_at_submit == [[f"runs/{run_id}/spec.json"]]
    record = json.loads(lab.get_bytes(f"runs/{run_id}/spec.json"))
    assert (record["backend"], record["gpus"]) == ("k8s:gpu", 1)
    job = api.received[-1][2]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["datayard", "worker", "--from-store", run_id]

    api.routes[("POST", JOBS)] = status(403, 'jobs.batch is forbidden: User "ada" cannot')
    refused = launch(api, tmp_path)

    assert refused.returncode == 1, refused.stderr
    assert "you may not create jobs in namespace 'ml'" in refused.stderr
    assert len(in_store_at_submit) == 2 and len(in_store_at_submit[1]) == 2
    assert stored_keys(lab) == [f"runs/{run_id}/spec.json"]  # the refused run's is gone
    listed = run_cli("runs", "--json")
    assert [row["run"] for row in json.loads(listed.stdout)] == [run_id]


def store_chunk(bucket: Bucket, run_id: str, first: int, events: list[TrainingEvent]) -> None:
    """Events as the run's pod stores them, from sequence number ``first``."""
    lines = "".join(f"{encode(event, first + i)}\n" for i, event in enumerate(events))
    bucket.put_bytes(events_key(run_id, first), lines.encode())


UNSCHEDULABLE = {
    "metadata": {"name": "p", "creationTimestamp": "2026-12-07T10:15:00Z"},
    "status": {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            }
        ],
    },
}


def test_a_cluster_run_is_listed_paused_resumed_and_killed_through_the_store_and_its_job(
    lab: Bucket, api: ApiServer, tmp_path: Path
) -> None:
    """The run's pod is played by the test, writing to the store what a worker writes."""
    launched = launch(api, tmp_path, "--gpus", "2", "--detach")
    assert launched.returncode == 0, launched.stderr
    run_id = launched.stdout.strip()
    job = f"{JOBS}/{job_name(run_id)}"
    api.routes[("GET", job)] = (200, {"status": {}})
    api.routes[("GET", PODS)] = (200, {"items": [UNSCHEDULABLE]})
    api.routes[("DELETE", job)] = (200, {"status": "Success"})
    store_chunk(lab, run_id, 0, one_epoch(epochs=3))

    listed = run_cli("runs", "--json")
    shown = run_cli("runs")

    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["status"], row["epochs_done"], row["where"]) == ("running", 1, "gpu")
    assert row["job"]["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in shown.stdout

    pausing = subprocess.Popen(
        datayard_command("pause", run_id), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert until(lambda: lab.exists(control_key(run_id))), pausing.stderr
    assert lab.get_bytes(control_key(run_id)) == b"pause"
    store_chunk(lab, run_id, 2, [Paused(epochs_done=1, resumable=True)])  # the worker obeys
    said, _ = pausing.communicate(timeout=LONG_S)
    assert pausing.returncode == 0 and "paused" in said
    api.received.clear()

    resumed = run_cli("resume", run_id, "--detach")

    assert resumed.returncode == 0, resumed.stderr
    sent = [(method, path.split("?")[0]) for method, path, _ in api.received]
    assert sent == [("DELETE", job), ("POST", SECRETS), ("POST", JOBS)]
    (container,) = api.received[-1][2]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["datayard", "worker", "--from-store", run_id]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    stored = list(StoredEvents(lab, run_id).since(0))
    assert [r.seq for r in stored] == [0, 1, 2, 3]
    assert isinstance(stored[-1].event, Preparing) and stored[-1].event.phase == "resuming"
    api.routes[("GET", PODS)] = (200, {"items": []})

    killed = run_cli("stop", run_id, "--kill")

    assert killed.returncode == 0, killed.stderr
    assert ("DELETE", job) in [(m, p.split("?")[0]) for m, p, _ in api.received]
    ending = list(StoredEvents(lab, run_id).since(4))[-1].event
    assert isinstance(ending, Failed) and ending.reason == "killed"
    (row,) = json.loads(run_cli("runs", "--json").stdout)
    assert (row["status"], row["epochs_done"]) == ("failed", 1)


RUNNING = {"metadata": {"name": "p"}, "status": {"phase": "Running"}}
OUT_OF_MEMORY = {
    "metadata": {"name": "p"},
    "status": {
        "phase": "Failed",
        "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}],
    },
}
BACKOFF = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "x"}]}}


def test_a_follower_says_why_the_pod_waits_and_stores_the_end_of_a_worker_killed_unheard(
    lab: Bucket, api: ApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The follower of ``train --on``: its pod waits for a node, then trains an epoch, then
    is killed for its memory, which its worker cannot store. The test plays the Job, one
    answer per look of the follower at it, and the pod's one epoch in the store."""
    launched = launch(api, tmp_path, "--detach")
    assert launched.returncode == 0, launched.stderr
    run_id = launched.stdout.strip()
    job = f"{JOBS}/{job_name(run_id)}"
    answers = [
        ({"status": {}}, UNSCHEDULABLE),
        ({"status": {}}, UNSCHEDULABLE),
        ({"status": {}}, RUNNING),
        (BACKOFF, OUT_OF_MEMORY),
        (BACKOFF, OUT_OF_MEMORY),
    ]
    stored_at_look: list[int] = []

    def look(method: str, path: str) -> None:
        if (method, path) != ("GET", job):
            return
        stored_at_look.append(len(list(StoredEvents(lab, run_id).since(0))))
        answer, pod = answers[len(stored_at_look) - 1]
        if pod is RUNNING:
            store_chunk(lab, run_id, 0, one_epoch(epochs=3))
        api.routes[("GET", job)] = (200, answer)
        api.routes[("GET", PODS)] = (200, {"items": [pod]})

    api.arrived = look
    backends = Backends.default()
    backends.cluster.watch_timing = {"look_every_s": 0.0, "pending_too_long_s": 0.0}
    folder = backends.registry.get(run_id)

    with caplog.at_level(logging.WARNING, logger="datayard.core.training.job_watch"):
        followed = [record.event for record in backends.follow(folder)]

    told = [record.getMessage() for record in caplog.records]
    assert told[0].startswith(f"run {run_id} waits: no node can take the pod yet")
    assert f"`datayard stop {run_id} --kill` cancels it" in told[1]
    assert told[2].startswith(f"run {run_id} failed: the worker used more memory")
    assert len(told) == 3  # each told once, though the pod waited on two looks
    # The failure is stored on the second look that finds the worker gone, not the first.
    assert stored_at_look == [0, 0, 0, 2, 2]
    ending = followed[-1]
    assert isinstance(ending, Failed) and ending.reason == "OOMKilled"
    assert [type(e) for e in followed] == [Preparing, Epoch, Failed]
    stored = list(StoredEvents(lab, run_id).since(0))
    assert [r.seq for r in stored] == [0, 1, 2] and stored[-1].event == ending
    summary = backends.summary(folder)
    assert (summary.status.value, summary.epochs_done, summary.resumable) == ("failed", 1, True)
