"""``datayard cluster`` and ``train --on CLUSTER --dry-run`` as a user runs them. No
Kubernetes API server can run here: the kubeconfig points at a port where nothing listens,
and the dry run sends nothing anyway."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
import yaml

from datayard.core.store.bucket import Bucket
from tests.core.test_cluster_api import closed_port, kubeconfig
from tests.fixtures.datasets import add_profile, fresh_bucket, publish, run_cli, sample_files
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import StoreProxy

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
