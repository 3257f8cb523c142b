"""Pushing from the desktop app, against the real SeaweedFS and Secret Service fixtures.

Drop folders, name the dataset in the dialog, watch the job in the queue reach
100%; cancel, pause and resume; see why a push failed; pick up pushes that an
earlier session of the app left unfinished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QTextDocumentFragment
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.push.queue import Job, JobState
from datayard.core.datasets.push.request import PushRequest
from datayard.core.secrets import SecretStore
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import BLOBS
from datayard.core.store.locks import Mode, acquire
from datayard.core.store.workspace import Workspace
from datayard.gui.transfers import PushDialog, TransfersPanel
from datayard.gui.transfers.job_row import JobRow
from datayard.gui.workers import stop_all
from tests.e2e.test_push import write_images
from tests.fixtures.messy_tree import MessyTree, make_clean_set
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import Hold
from tests.fixtures.waits import LONG_MS

pytestmark = pytest.mark.usefixtures("secret_service")


@pytest.fixture
def panel(qtbot: QtBot, bucket: Bucket) -> Iterator[TransfersPanel]:
    """The panel at the size of a bottom dock; one file at a time, so a push takes a while."""
    widget = TransfersPanel(Workspace.default(), workers=1)
    qtbot.addWidget(widget)
    widget.resize(1366, 250)
    widget.show()
    yield widget
    stop_all()


def drop(widget: QWidget, paths: list[Path]) -> None:
    """What a file manager does: a drag enters with file URLs, then drops them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    centre = widget.rect().center()
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the drop area refused the drag"
    dropped = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, dropped)
    assert dropped.isAccepted()


def shown(label: QLabel) -> str:
    """A label's text as the user reads it, without its markup."""
    return QTextDocumentFragment.fromHtml(label.text()).toPlainText()


def offered(row: JobRow, action: str) -> bool:
    return row.buttons[action].isVisibleTo(row)


def ask(panel: TransfersPanel, paths: list[Path]) -> PushDialog:
    dialog = panel.request_push(paths)
    assert dialog is not None and dialog.isVisible()
    return dialog


def open_dialog(panel: TransfersPanel) -> PushDialog:
    dialog = panel.findChild(PushDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


def previewed(qtbot: QtBot, dialog: PushDialog) -> PushDialog:
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=LONG_MS)
    return dialog


def only_job(panel: TransfersPanel) -> Job:
    (job,) = panel.queue.jobs
    return job


def wait_state(qtbot: QtBot, panel: TransfersPanel, job: Job, state: JobState) -> None:
    qtbot.waitUntil(lambda: job.state is state and not panel.busy, timeout=LONG_MS)


def blob_count(bucket: Bucket) -> int:
    return sum(1 for _ in bucket.objects(BLOBS))


def test_a_dropped_folder_is_pushed_and_its_bar_reaches_100(
    qtbot: QtBot, panel: TransfersPanel, bucket: Bucket, tmp_path: Path
) -> None:
    source = make_clean_set(tmp_path / "Pets set (2024)")
    drop(panel.drop_area, [source])
    dialog = previewed(qtbot, open_dialog(panel))
    assert dialog.name.text() == "Pets-set-2024"
    assert dialog.status.text() == "6 images (6 labelled) in 1 set(s). The check found no problem."
    assert "To send: 9 of 12 files" in shown(dialog.summary)
    assert "3 files are copies of others: stored once" in shown(dialog.summary)
    assert not dialog.force.isVisible() and dialog.push_button.isEnabled()
    dialog.name.setText("pets")
    dialog.message.setText("  first pets  ")
    dialog.push_button.click()

    job = only_job(panel)
    assert job.request.paths == (source,)
    assert (job.request.dataset, job.request.profile) == ("pets", "lab")
    wait_state(qtbot, panel, job, JobState.DONE)
    row = panel.rows[job.id]
    assert row.bar.value() == row.bar.maximum() and row.bar.format() == "Done"
    transfer = job.transfer  # the last progress the bar showed before "Done": all sent
    assert transfer is not None and transfer.files_done == transfer.files_total == 9
    assert transfer.bytes_done == transfer.bytes_total
    assert row.state.text() == "Done"
    assert row.detail.text().startswith("Published ") and "12 files, 9 sent" in row.detail.text()
    assert not panel.has_active_jobs()
    owner = Workspace.default().settings().owner
    assert job.result is not None and job.result.manifest is not None
    assert Catalog(bucket).versions(owner, "pets") == [job.result.manifest.id]
    assert Catalog(bucket).version(DatasetRef(owner, "pets", "v1")).message == "first pets"

    # The same folder again: the dialog says nothing is left to send.
    panel.request_push([source])
    again = previewed(qtbot, open_dialog(panel))
    assert "Nothing to upload: the store already has all 12 files" in shown(again.summary)
    again.name.setText("pets")
    qtbot.waitUntil(lambda: "Nothing to send" in shown(again.summary), timeout=LONG_MS)
    assert "already holds exactly these 12 files" in shown(again.summary)
    assert not again.push_button.isEnabled()
    again.reject()


def test_dropped_image_files_push_their_folder(
    qtbot: QtBot, panel: TransfersPanel, tmp_path: Path
) -> None:
    folder = write_images(tmp_path / "Street cams", 3, seed=1)
    drop(panel.drop_area, sorted(folder.iterdir())[:2])
    dialog = open_dialog(panel)
    assert dialog.folders == (folder,)
    assert dialog.name.text() == "Street-cams"
    dialog.push_button.click()  # before the preview is in: the push does not wait for it
    job = only_job(panel)
    assert job.request.paths == (folder,) and job.request.dataset == "Street-cams"
    wait_state(qtbot, panel, job, JobState.DONE)


def test_cancel_then_resume_sends_only_what_was_missing(
    qtbot: QtBot,
    panel: TransfersPanel,
    bucket: Bucket,
    held_uploads: Callable[[int], Hold],
    tmp_path: Path,
) -> None:
    source = write_images(tmp_path / "photos", 300, seed=2)
    held_uploads(20)
    dialog = ask(panel, [source])
    assert "To send: 300 of 300 files" in shown(previewed(qtbot, dialog).summary)
    dialog.push_button.click()
    job = only_job(panel)
    row = panel.rows[job.id]
    qtbot.waitUntil(
        lambda: job.transfer is not None and job.transfer.files_done >= 20, timeout=LONG_MS
    )
    assert " files · " in row.detail.text() and "/s" in row.detail.text()
    row.buttons["cancel"].click()
    wait_state(qtbot, panel, job, JobState.CANCELLED)
    assert offered(row, "resume") and not offered(row, "pause")
    assert "Resume sends the rest" in row.detail.text()
    stored = blob_count(bucket)
    assert 20 <= stored < 300

    row.buttons["resume"].click()
    wait_state(qtbot, panel, job, JobState.DONE)
    assert job.result is not None and job.result.uploaded_blobs == 300 - stored
    assert blob_count(bucket) == 300
    assert row.bar.value() == row.bar.maximum()


def test_pause_then_resume_completes(
    qtbot: QtBot,
    panel: TransfersPanel,
    bucket: Bucket,
    held_uploads: Callable[[int], Hold],
    tmp_path: Path,
) -> None:
    source = write_images(tmp_path / "photos", 300, seed=3)
    held_uploads(20)
    active: list[bool] = []
    panel.active_changed.connect(active.append)
    dialog = ask(panel, [source])
    dialog.push_button.click()
    job = only_job(panel)
    row = panel.rows[job.id]
    qtbot.waitUntil(
        lambda: job.transfer is not None and job.transfer.files_done >= 20, timeout=LONG_MS
    )
    row.buttons["pause"].click()
    wait_state(qtbot, panel, job, JobState.PAUSED)
    assert row.state.text() == "Paused" and "Resume continues" in row.detail.text()
    assert active == [True, False]
    row.buttons["resume"].click()
    wait_state(qtbot, panel, job, JobState.DONE)
    assert active == [True, False, True, False]
    assert blob_count(bucket) == 300


def test_a_failed_push_says_why_and_can_be_retried(
    qtbot: QtBot, panel: TransfersPanel, s3_server: S3Server, tmp_path: Path
) -> None:
    workspace = panel.workspace
    missing = s3_server.profile(name="gone", bucket="no-such-bucket")
    workspace.save(workspace.settings().with_profile(missing))
    SecretStore().set("gone", s3_server.secret)
    source = write_images(tmp_path / "photos", 2, seed=4)
    dialog = ask(panel, [source])
    dialog.profile.setCurrentIndex(dialog.profile.findData("gone"))
    qtbot.waitUntil(lambda: "Could not prepare" in dialog.status.text(), timeout=LONG_MS)
    assert "no-such-bucket" in dialog.status.text() and "Settings" in dialog.status.text()
    dialog.push_button.click()
    job = only_job(panel)
    wait_state(qtbot, panel, job, JobState.FAILED)
    row = panel.rows[job.id]
    assert "the bucket 'no-such-bucket' does not exist; create it" in row.detail.text()
    assert "Traceback" not in row.detail.text()
    assert offered(row, "retry")
    assert row.state.text() == "Failed"


def test_blocking_problems_need_push_anyway(
    qtbot: QtBot, panel: TransfersPanel, tmp_path: Path
) -> None:
    folder = write_images(tmp_path / "photos", 3, seed=7)
    (folder / "img_00001.png").write_bytes(b"not a PNG at all")
    dialog = previewed(qtbot, ask(panel, [folder]))
    assert "The check found 1 blocking problem(s)." in dialog.status.text()
    assert dialog.problems.topLevelItem(0).text(0).startswith("✖")
    assert dialog.force.isVisibleTo(dialog) and not dialog.push_button.isEnabled()
    dialog.force.setChecked(True)
    assert dialog.push_button.isEnabled()
    dialog.reject()


def test_folders_that_cannot_go_together_are_refused(
    qtbot: QtBot, panel: TransfersPanel, messy_tree: MessyTree
) -> None:
    dialog = previewed(qtbot, ask(panel, [messy_tree.root]))
    assert "blocking problem(s)" in dialog.status.text()
    assert "Cannot push these folders as one dataset: The folders name their classes" in shown(
        dialog.summary
    )
    dialog.force.setChecked(True)
    assert not dialog.push_button.isEnabled()
    dialog.reject()


def test_pushes_left_unfinished_are_offered_at_the_next_start(
    qtbot: QtBot,
    panel: TransfersPanel,
    bucket: Bucket,
    held_uploads: Callable[[int], Hold],
    tmp_path: Path,
) -> None:
    source = write_images(tmp_path / "photos", 300, seed=5)
    held_uploads(20)
    dialog = ask(panel, [source])
    dialog.name.setText("night-shift")
    dialog.push_button.click()
    job = only_job(panel)
    qtbot.waitUntil(
        lambda: job.transfer is not None and job.transfer.files_done >= 20, timeout=LONG_MS
    )
    panel.pause_all()  # what the main window does when the user closes it mid-push
    qtbot.waitUntil(lambda: not panel.busy, timeout=LONG_MS)
    panel.close()
    stored = blob_count(bucket)

    later = TransfersPanel(Workspace.default(), workers=4)
    qtbot.addWidget(later)
    later.show()
    box = later.offer_interrupted()
    assert box is not None and box.isVisible()
    assert "night-shift" in box.text() and "photos" in box.text()
    (resumed,) = later.queue.jobs
    assert resumed.id == job.id and resumed.state is JobState.INTERRUPTED
    assert offered(later.rows[job.id], "resume")
    resume = next(b for b in box.buttons() if b.text() == "Resume all")
    resume.click()
    wait_state(qtbot, later, resumed, JobState.DONE)
    assert resumed.result is not None and resumed.result.uploaded_blobs == 300 - stored
    assert later.offer_interrupted() is None  # nothing left to offer


def test_discarded_interrupted_pushes_are_not_offered_again(
    qtbot: QtBot, panel: TransfersPanel, tmp_path: Path
) -> None:
    source = write_images(tmp_path / "photos", 1, seed=6)
    # Queued and never started: the app crashed before it had a free slot.
    panel.queue.add(PushRequest((source,), "photos", "lab"))
    later = TransfersPanel(Workspace.default())
    qtbot.addWidget(later)
    box = later.offer_interrupted()
    assert box is not None
    discard = next(b for b in box.buttons() if b.text() == "Discard")
    discard.click()
    assert later.queue.jobs == ()
    assert not later.rows
    again = TransfersPanel(Workspace.default())
    qtbot.addWidget(again)
    assert again.offer_interrupted() is None


def test_a_push_that_meets_a_gc_says_so_in_its_row_then_publishes(
    qtbot: QtBot, panel: TransfersPanel, bucket: Bucket, tmp_path: Path
) -> None:
    source = make_clean_set(tmp_path / "pets")
    taking = acquire(bucket, Mode.EXCLUSIVE, "gc")
    with pytest.raises(StopIteration) as taken:
        next(taking)
    with taken.value.value:  # a gc holds the store while the push starts
        dialog = previewed(qtbot, ask(panel, [source]))
        dialog.name.setText("pets")
        dialog.push_button.click()
        job = only_job(panel)
        row = panel.rows[job.id]
        qtbot.waitUntil(lambda: "Waiting" in row.detail.text(), timeout=LONG_MS)
        assert row.detail.text().startswith("Waiting for gc by ")
        assert row.detail.text().endswith("to finish with this store…")
        assert job.state is JobState.RUNNING
    wait_state(qtbot, panel, job, JobState.DONE)
    assert row.detail.text().startswith("Published ")
