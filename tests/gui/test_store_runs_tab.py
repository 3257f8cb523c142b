"""The Training tab's "Other machines' runs": the store's runs that this machine did not
launch, listed, plotted, followed live, stopped and refused a resume, through the store.

The runs are written to the real store as their workers write them (a record, then
chunks of events), one launched on a cluster this machine does not have, one on
another machine; a third was launched here and is listed once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.core.training.backends import Backends
from datayard.core.training.curves import TRAIN
from datayard.core.training.protocol import Epoch, Failed, Preparing, Stopped, TrainingEvent
from datayard.core.training.runs import EventLog, RunRecord, RunRegistry, new_record
from datayard.core.training.spec import TrainSpec
from datayard.core.training.stored_control import control_key
from datayard.core.training.stored_runs import put_record
from datayard.gui.training.dashboard import RunDashboard
from tests.e2e.test_clusters_cli import store_chunk
from tests.fixtures.datasets import fresh_bucket
from tests.fixtures.services import S3Server
from tests.gui.test_dashboard import points, row
from tests.gui.test_datasets_view import workspace_for

LOSS = ("epoch:box_loss", TRAIN + "box_loss")


def epoch(number: int, epochs: int = 5) -> Epoch:
    return Epoch(
        epoch=number,
        epochs=epochs,
        train_losses={"box_loss": 2.0 / number},
        val_losses={"box_loss": 2.5 / number},
        metrics={"mAP50-95": 0.1 * number},
        fitness=0.1 * number,
        lr=0.01,
        seconds=3,
    )


def stored_run(bucket: Bucket, backend: str, events: list[TrainingEvent]) -> RunRecord:
    """A run as its worker leaves it in the store, launched from a machine whose profile
    has another name."""
    record = new_record(
        TrainSpec("ada/cats@v1", epochs=5, profile="theirs"), "ada/cats@v1", backend
    )
    put_record(bucket, record)
    store_chunk(bucket, record.run_id, 0, events)
    return record


@pytest.fixture
def store(s3_server: S3Server, secret_service: object) -> tuple[Workspace, Bucket]:
    bucket = fresh_bucket(s3_server)
    return workspace_for(s3_server.profile("lab", bucket=bucket.name), s3_server.secret), bucket


def tab(qtbot: QtBot, workspace: Workspace, tmp_path: Path) -> RunDashboard:
    dashboard = RunDashboard(Backends.of(workspace, RunRegistry(tmp_path / "runs")))
    qtbot.addWidget(dashboard)
    dashboard.resize(1366, 768)
    dashboard.show()
    return dashboard


def loaded(qtbot: QtBot, dashboard: RunDashboard, act: Callable[[], object]) -> list[str]:
    with qtbot.waitSignal(dashboard.runs_loaded, timeout=10_000) as listed:
        act()
    return [info.run_id for info in listed.args[0]]


def test_other_machines_runs_are_listed_followed_and_stopped_through_the_store(
    qtbot: QtBot, store: tuple[Workspace, Bucket], tmp_path: Path
) -> None:
    workspace, bucket = store
    on_cluster = stored_run(bucket, "k8s:gpu", [Preparing(phase="pulling dataset"), epoch(1)])
    elsewhere = stored_run(bucket, "local", [epoch(1), Failed(reason="crashed", message="x")])
    here = RunRegistry(tmp_path / "runs").add(
        new_record(TrainSpec("ada/cats@v1", profile="lab"), "ada/cats@v1", "local")
    )
    put_record(bucket, here.record())
    dashboard = tab(qtbot, workspace, tmp_path)

    assert loaded(qtbot, dashboard, dashboard.refresh) == [here.run_id]
    listed = loaded(qtbot, dashboard, lambda: dashboard.everywhere.setChecked(True))

    assert sorted(listed) == sorted([here.run_id, on_cluster.run_id, elsewhere.run_id])
    cluster_row, other_row = row(dashboard, on_cluster.run_id), row(dashboard, elsewhere.run_id)
    assert (cluster_row["Status"], cluster_row["Where"]) == ("running", "gpu")
    assert (other_row["Status"], other_row["Where"]) == ("failed", "local (another machine)")

    # Plotted, and followed live from the store: its next epoch reaches the plot.
    dashboard.select_runs([on_cluster.run_id])
    qtbot.waitUntil(lambda: points(dashboard, *LOSS[:1], on_cluster.run_id, LOSS[1]) == 1)
    store_chunk(bucket, on_cluster.run_id, 2, [epoch(2)])
    qtbot.waitUntil(lambda: points(dashboard, *LOSS[:1], on_cluster.run_id, LOSS[1]) == 2)

    assert dashboard.stop_button.isEnabled()
    dashboard.stop_button.click()
    qtbot.waitUntil(lambda: bucket.exists(control_key(on_cluster.run_id)))
    assert bucket.get_bytes(control_key(on_cluster.run_id)) == b"stop"
    with qtbot.waitSignal(dashboard.runs_loaded, timeout=10_000):  # its follower ends
        store_chunk(
            bucket, on_cluster.run_id, 3, [Stopped(epochs_done=2, best_epoch=2, weights=())]
        )
    assert row(dashboard, on_cluster.run_id)["Status"].startswith("stopped")

    # Another machine's failed run resumes there, not from here: the refusal says so.
    dashboard.select_runs([elsewhere.run_id])
    assert dashboard.resume_button.isEnabled()
    dashboard.resume_button.click()
    qtbot.waitUntil(lambda: "is for the machine that launched it" in dashboard.notice.text())

    # A second window lists the same copies; each event is in them once.
    second = tab(qtbot, workspace, tmp_path)
    second.everywhere.setChecked(True)
    qtbot.waitUntil(lambda: on_cluster.run_id in second.runs.infos, timeout=10_000)
    copy = second.runs.infos[on_cluster.run_id].folder
    assert [r.seq for r in EventLog(copy.events_file).read_new()] == [0, 1, 2, 3]
    assert copy.record().spec.profile == "lab"  # the profile it was read through


def test_a_store_that_cannot_be_read_leaves_this_machines_runs_listed(
    qtbot: QtBot, tmp_path: Path, s3_server: S3Server, secret_service: object
) -> None:
    profile = s3_server.profile("lab", bucket="no-such-bucket-here")
    workspace = workspace_for(profile, "not-the-secret")
    here = RunRegistry(tmp_path / "runs").add(
        new_record(TrainSpec("ada/cats@v1", profile="lab"), "ada/cats@v1", "local")
    )
    dashboard = tab(qtbot, workspace, tmp_path)

    listed = loaded(qtbot, dashboard, lambda: dashboard.everywhere.setChecked(True))

    assert listed == [here.run_id]
    assert "The store's runs cannot be listed" in dashboard.notice.text()
