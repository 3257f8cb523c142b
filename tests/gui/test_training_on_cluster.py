"""Training on a cluster from the app: the train dialog's "Where" offers the clusters,
takes the GPUs of the run's pod, refuses a store no pod can reach, and launches.

The cluster is the HTTP server that answers as a Kubernetes API server does
(tests/fixtures/cluster_api.py); the store is the session's SeaweedFS, reached
through a proxy on an address of this machine that is not its loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from datayard.core.clusters.manifests import job_name
from datayard.core.clusters.registry import Cluster, ClusterRegistry
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.core.training.backends import Backends
from datayard.core.training.runs import RunRegistry
from datayard.core.training.spec import TrainSpec
from datayard.gui.training.dashboard import RunDashboard
from datayard.gui.training.runs_list import COLUMNS
from tests.core.test_cluster_api import ApiServer, kubeconfig
from tests.e2e.test_clusters_cli import (
    BACKOFF,
    IMAGE,
    OUT_OF_MEMORY,
    UNSCHEDULABLE,
    store_chunk,
    this_machine_address,
)
from tests.fixtures.cluster_api import JOBS, PODS
from tests.fixtures.datasets import fresh_bucket
from tests.fixtures.pods import one_epoch
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import StoreProxy
from tests.fixtures.waits import LONG_MS
from tests.gui.test_dashboard import row
from tests.gui.test_datasets_view import workspace_for
from tests.gui.test_train_dialog import VERSION, open_dialog, texts


@pytest.fixture
def reachable(s3_server: S3Server, secret_service: object) -> Iterator[tuple[Workspace, Bucket]]:
    """A workspace whose profile ``lab`` is the store at an address that pods could reach,
    and whose profile ``here`` is the same store on this computer's loopback."""
    bucket = fresh_bucket(s3_server)
    proxy = StoreProxy(s3_server.endpoint, this_machine_address())
    lab = replace(s3_server.profile("lab", bucket=bucket.name), endpoint=proxy.endpoint)
    workspace = workspace_for(lab, s3_server.secret)
    settings = workspace.settings()
    here = s3_server.profile("here", bucket=bucket.name)
    workspace.save(settings.with_profile(here))
    workspace.secrets.set("here", s3_server.secret)
    yield workspace, bucket
    proxy.close()


def test_a_cluster_is_offered_with_its_gpus_and_the_run_is_launched_as_its_job(
    qtbot: QtBot, api: ApiServer, reachable: tuple[Workspace, Bucket], tmp_path: Path
) -> None:
    workspace, bucket = reachable
    clusters = ClusterRegistry(workspace.dirs.config)
    config = kubeconfig(tmp_path / "kubeconfig", api.url)
    clusters.add(Cluster(name="gpu", namespace="ml", image=IMAGE, kubeconfig=str(config)))
    backend = Backends.of(workspace, RunRegistry(tmp_path / "runs"))
    dialog = open_dialog(qtbot, backend, profile="lab")
    place = dialog.place
    offered = [place.combo.itemText(i) for i in range(place.combo.count())]
    assert offered == ["This computer", "gpu (cluster, namespace ml)"]
    assert not place.gpu_count.isVisible()

    place.combo.setCurrentIndex(place.combo.findData("gpu"))

    assert not place.probing  # a cluster is not asked: `cluster test` is
    assert place.gpu_count.isVisible() and place.pod_gpus == 1
    assert "Cluster gpu: nvidia.com/gpu." in texts(dialog)  # the device's explanation
    assert "datayard cluster test gpu" in place.note.text()
    place.gpu_count.setValue(2)
    assert "Cluster gpu: 2 × nvidia.com/gpu." in texts(dialog)
    assert "on cluster gpu, " in dialog.summary.text()
    assert dialog.start.isEnabled(), dialog.problems()

    with qtbot.waitSignal(dialog.launched, timeout=LONG_MS) as launched:
        dialog.start.click()

    folder = launched.args[0]
    record = folder.record()
    assert (record.backend, record.gpus, record.dataset) == ("k8s:gpu", 2, f"me/cats@{VERSION}")
    assert backend.where(folder) == "gpu"
    stored = json.loads(bucket.get_bytes(f"runs/{folder.run_id}/spec.json"))
    assert stored["spec"] == json.loads(record.to_json())["spec"]
    (container,) = api.received[-1][2]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["command"] == ["datayard", "worker", "--from-store", folder.run_id]


def test_a_store_no_pod_reaches_is_refused_before_the_launch(
    qtbot: QtBot, api: ApiServer, reachable: tuple[Workspace, Bucket], tmp_path: Path
) -> None:
    workspace, _ = reachable
    config = kubeconfig(tmp_path / "kubeconfig", api.url)
    ClusterRegistry(workspace.dirs.config).add(
        Cluster(name="gpu", namespace="ml", image=IMAGE, kubeconfig=str(config))
    )
    backend = Backends.of(workspace, RunRegistry(tmp_path / "runs"))
    dialog = open_dialog(qtbot, backend, profile="here")

    dialog.place.combo.setCurrentIndex(dialog.place.combo.findData("gpu"))

    assert "this computer's loopback, which no pod reaches" in dialog.problems()["where"]
    assert not dialog.start.isEnabled()
    dialog.place.gpu_count.setValue(0)
    assert "Cluster gpu: no GPU" in texts(dialog)
    dialog.place.combo.setCurrentIndex(0)  # this computer: the store is fine here
    assert "where" not in dialog.problems()
    assert api.received == []


def test_the_runs_list_tells_a_cluster_run_with_its_job(
    qtbot: QtBot, api: ApiServer, reachable: tuple[Workspace, Bucket], tmp_path: Path
) -> None:
    """Why its pod waits, on the row; then, its worker killed for its memory without storing
    its end, the run failed with the Job's words and resumable from the dashboard."""
    workspace, bucket = reachable
    config = kubeconfig(tmp_path / "kubeconfig", api.url)
    ClusterRegistry(workspace.dirs.config).add(
        Cluster(name="gpu", namespace="ml", image=IMAGE, kubeconfig=str(config))
    )
    backend = Backends.of(workspace, RunRegistry(tmp_path / "runs"))
    folder = backend.launch(
        TrainSpec("me/cats@v1", epochs=3, profile="lab"), "me/cats@v1", host="gpu"
    )
    job = f"{JOBS}/{job_name(folder.run_id)}"
    api.routes[("GET", job)] = (200, {"status": {}})
    api.routes[("GET", PODS)] = (200, {"items": [UNSCHEDULABLE]})
    dashboard = RunDashboard(backend)
    qtbot.addWidget(dashboard)
    dashboard.show()

    with qtbot.waitSignal(dashboard.runs_loaded, timeout=10_000):
        dashboard.refresh()

    assert row(dashboard, folder.run_id)["Status"] == "preparing"
    assert "no node can take the pod yet" in status_tip(dashboard, folder.run_id)
    store_chunk(bucket, folder.run_id, 0, one_epoch(epochs=3))
    api.routes[("GET", job)] = (200, BACKOFF)
    api.routes[("GET", PODS)] = (200, {"items": [OUT_OF_MEMORY]})

    with qtbot.waitSignal(dashboard.runs_loaded, timeout=10_000):
        dashboard.refresh()

    assert row(dashboard, folder.run_id)["Status"] == "failed"
    assert "more memory than the pod's limit" in status_tip(dashboard, folder.run_id)
    dashboard.select_runs([folder.run_id])
    assert dashboard.resume_button.isEnabled()


def status_tip(dashboard: RunDashboard, run_id: str) -> str:
    item = next(
        dashboard.runs.topLevelItem(i)
        for i in range(dashboard.runs.topLevelItemCount())
        if dashboard.runs.run_id_of(dashboard.runs.topLevelItem(i)) == run_id
    )
    return item.toolTip(COLUMNS.index("Status"))
