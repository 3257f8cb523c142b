"""A stored version's images and two versions' differences, fetched from a real SeaweedFS store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QTreeWidgetItem
from pytestqt.qtbot import QtBot

from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import blob_key
from datayard.core.store.workspace import Workspace
from datayard.gui.datasets import DatasetsView
from datayard.gui.datasets.stored_images import StoredImagesView, VersionCompareView
from datayard.gui.inspector.image_pane import ImagePane
from datayard.gui.inspector.viewer import LabelViewer
from datayard.gui.thumbnails import ThumbnailModel
from datayard.gui.workers import any_running
from tests.fixtures.datasets import png, publish
from tests.fixtures.store_proxy import StoreProxy, blob_request

pytestmark = pytest.mark.usefixtures("secret_service")

FIRST = {
    "images/train/a.png": png((200, 30, 30)),
    "labels/train/a.txt": b"0 0.5 0.5 0.4 0.4\n1 0.25 0.25 0.2 0.2\n",
    "images/train/b.png": png((30, 200, 30)),
    "labels/train/b.txt": b"1 0.5 0.5 0.5 0.5\n",
    "images/val/c.png": png((30, 30, 200)),
    "labels/val/c.txt": b"0 0.5 0.5 0.2 0.2\n",
}
SECOND = {
    **{path: data for path, data in FIRST.items() if "/b." not in path},  # b removed
    "labels/val/c.txt": b"0 0.5 0.5 0.2 0.2\n1 0.2 0.2 0.1 0.1\n",  # c relabelled
    "images/train/d.png": png((90, 90, 90), (40, 30)),  # d added
}


@pytest.fixture
def view(qtbot: QtBot, bucket: Bucket, request: pytest.FixtureRequest) -> Iterator[DatasetsView]:
    """The datasets tab on alice/cats v1 and v2 (FIRST and SECOND, or the files a test
    parametrizes it with), read through the store proxy."""
    for files in getattr(request, "param", (FIRST, SECOND)):
        publish(bucket, "alice/cats", files)
    shown = DatasetsView(Workspace.default())
    qtbot.addWidget(shown)
    with qtbot.waitSignal(shown.loaded, timeout=20_000):
        shown.refresh()
    yield shown
    for window in list(shown.windows):
        window.close()
    qtbot.waitUntil(lambda: not any_running(), timeout=20_000)  # before the proxy closes


def versions(view: DatasetsView, *numbers: int) -> list[QTreeWidgetItem]:
    cats = view.tree.topLevelItem(0)
    cats.setExpanded(True)
    view.tree.clearSelection()
    for number in numbers:
        cats.child(number - 1).setSelected(True)
    return [cats.child(number - 1) for number in numbers]


def wait_for_thumbnails(qtbot: QtBot, model: ThumbnailModel) -> None:
    rows = model.rowCount()
    qtbot.waitUntil(
        lambda: all(model.shown(row) for row in range(rows)) and not model.busy, timeout=20_000
    )


def click(qtbot: QtBot, window: StoredImagesView | VersionCompareView, name: str) -> None:
    """Make the image called ``name`` the grid's current one, as a click does."""
    row = next(r for r, image in enumerate(window.thumbnails.images) if image.path.name == name)
    window.grid.selectionModel().setCurrentIndex(
        window.thumbnails.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect
    )


def drawn(qtbot: QtBot, pane: ImagePane, name: str) -> None:
    qtbot.waitUntil(
        lambda: pane.viewer.info.startswith(name) and pane.viewer.current is not None,
        timeout=20_000,
    )


def test_browsing_shows_every_image_and_fetches_each_thumbnail_once(
    qtbot: QtBot, view: DatasetsView, store_proxy: StoreProxy
) -> None:
    versions(view, 1)
    assert view.browse_button.isEnabled() and view.browse_button.text() == "Browse images"
    window = view.browse()
    assert isinstance(window, StoredImagesView)
    wait_for_thumbnails(qtbot, window.thumbnails)
    assert window.thumbnails.rowCount() == 3
    assert window.thumbnails.stats == {"made": 3}
    assert "3 images, 3 labelled" in window.summary.text()
    drawn(qtbot, window.image_pane, "a.png")  # the first image is shown with its label
    assert window.version.blobs.fetched == 4  # three images, and the label of the one shown
    fetched = store_proxy.count(blob_request("GET"))
    window.close()

    again = view.browse()
    assert isinstance(again, StoredImagesView)
    wait_for_thumbnails(qtbot, again.thumbnails)
    drawn(qtbot, again.image_pane, "a.png")
    assert again.thumbnails.stats == {"cached": 3}
    assert again.version.blobs.fetched == 0
    assert store_proxy.count(blob_request("GET")) == fetched
    assert not again.stored.problems.text()


def test_clicking_an_image_draws_its_labels_boxes(qtbot: QtBot, view: DatasetsView) -> None:
    versions(view, 1)
    window = view.browse()
    assert isinstance(window, StoredImagesView)
    drawn(qtbot, window.image_pane, "a.png")
    click(qtbot, window, "c.png")
    drawn(qtbot, window.image_pane, "c.png")
    assert window.viewer.names == ["cat"]
    assert "32 × 24 px  ·  val  ·  1 label" in window.viewer.info
    click(qtbot, window, "a.png")
    drawn(qtbot, window.image_pane, "a.png")
    assert window.viewer.names == ["cat", "dog"]
    assert len(window.viewer.shapes) == 2


def shown_with(window: StoredImagesView, text_start: str) -> set[str]:
    """The names the grid shows with the filter whose text starts with ``text_start``."""
    box = window.filter
    box.setCurrentIndex(
        next(i for i in range(box.count()) if box.itemText(i).startswith(text_start))
    )
    return {image.path.name for image in window.thumbnails.images}


def test_the_grid_filters_a_versions_images_by_label_and_class(view: DatasetsView) -> None:
    versions(view, 1)
    first = view.browse()
    assert isinstance(first, StoredImagesView)
    filters = [first.filter.itemText(i) for i in range(first.filter.count())]
    # Nothing checked a stored version: no filter by problems.
    assert filters == ["All images (3)", "Unlabelled (0)", "Class cat (2)", "Class dog (2)"]
    assert shown_with(first, "Class cat") == {"a.png", "c.png"}
    assert shown_with(first, "Class dog") == {"a.png", "b.png"}
    assert shown_with(first, "Unlabelled") == set()
    assert first.viewer.message == "No image of this version passes this filter."
    assert shown_with(first, "All images") == {"a.png", "b.png", "c.png"}

    versions(view, 2)
    second = view.browse()
    assert isinstance(second, StoredImagesView)
    assert shown_with(second, "Unlabelled (1)") == {"d.png"}  # added without a label
    assert shown_with(second, "Class cat (2)") == {"a.png", "c.png"}


def test_the_images_added_removed_and_changed_between_two_versions(
    qtbot: QtBot, view: DatasetsView
) -> None:
    versions(view, 1, 2)
    assert view.browse_button.text() == "Compare images"
    window = view.browse()
    assert isinstance(window, VersionCompareView)
    assert "alice/cats v1 to alice/cats v2: 1 image added, 1 removed, 1 changed" in (
        window.summary.text()
    )
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs == ["Added (1)", "Removed (1)", "Changed (1)"]

    def group(index: int) -> list[str]:
        window.tabs.setCurrentIndex(index)
        wait_for_thumbnails(qtbot, window.thumbnails)
        return [image.path.as_posix() for image in window.thumbnails.images]

    assert group(0) == ["images/train/d.png"]
    drawn(qtbot, window.after, "d.png")
    assert window.before.viewer.message == "Not in v1: the image was added."
    assert group(1) == ["images/train/b.png"]
    drawn(qtbot, window.before, "b.png")
    assert window.after.viewer.message == "Not in v2: the image was removed."
    assert group(2) == ["images/val/c.png"]
    drawn(qtbot, window.before, "c.png")  # side by side: the old label and the new
    drawn(qtbot, window.after, "c.png")
    assert window.before.viewer.names == ["cat"]
    assert window.after.viewer.names == ["cat", "dog"]
    assert window.thumbnails.stats["made"] + window.thumbnails.stats["cached"] == 3


RED, CYAN, BLUE, GREY = (200, 30, 30), (30, 200, 200), (30, 30, 200), (90, 90, 90)
OLD = {
    "images/train/a.png": png(RED),
    "labels/train/a.txt": b"0 0.5 0.5 0.4 0.4\n",
    "images/val/c.png": png(BLUE),
    "labels/val/c.txt": b"0 0.5 0.5 0.2 0.2\n",
    "images/train/b.png": png(GREY),
}
NEW = {
    "images/train/a.png": png(CYAN),  # repainted, its label kept
    "labels/train/a.txt": OLD["labels/train/a.txt"],
    "images/val/c.png": OLD["images/val/c.png"],
    "labels/val/c.txt": b"0 0.25 0.25 0.2 0.2\n1 0.75 0.75 0.1 0.1\n",  # box moved, one more
    "images/train/d.png": png(GREY),  # b removed, d added
}


def near(colour: QColor, rgb: tuple[int, int, int]) -> bool:
    """The same colour, give or take what JPEG does to it."""
    return all(abs(a - b) <= 24 for a, b in zip(colour.getRgb()[:3], rgb, strict=True))


def thumbnail(window: VersionCompareView, name: str) -> QImage:
    row = next(r for r, image in enumerate(window.thumbnails.images) if image.path.name == name)
    picture = window.thumbnails.data(window.thumbnails.index(row), Qt.ItemDataRole.DecorationRole)
    assert isinstance(picture, QPixmap)
    return picture.toImage()


def halves(image: QImage) -> tuple[QColor, QColor]:
    """The colours a quarter of the way in from the left and from the right, half way down."""
    middle = image.height() // 2
    return image.pixelColor(image.width() // 4, middle), image.pixelColor(
        3 * image.width() // 4, middle
    )


def picture(viewer: LabelViewer) -> QColor:
    """The colour in the middle of the image the viewer draws."""
    (item,) = [i for i in viewer.scene().items() if isinstance(i, QGraphicsPixmapItem)]
    image = item.pixmap().toImage()
    return image.pixelColor(image.width() // 2, image.height() // 2)


Box = tuple[str, tuple[float, ...]]


def box(name: str, x: float, y: float, width: float, height: float) -> Box:
    """A shape drawn on a 32 × 24 picture, from its label's fractions."""
    return name, (round(x * 32, 1), round(y * 24, 1), round(width * 32, 1), round(height * 24, 1))


def boxes(viewer: LabelViewer) -> list[Box]:
    """Each shape drawn, with its class name, in image pixels: left, top, width, height."""
    found = []
    for name, shape in zip(viewer.names, viewer.shapes, strict=True):
        rect = shape.polygon().boundingRect()
        edges = (rect.x(), rect.y(), rect.width(), rect.height())
        found.append((name, tuple(round(edge, 1) for edge in edges)))
    return found


def both_drawn(qtbot: QtBot, window: VersionCompareView, name: str) -> None:
    for pane in (window.before, window.after):
        drawn(qtbot, pane, name)


@pytest.mark.parametrize("view", [(OLD, NEW)], ids=["repainted-and-relabelled"], indirect=True)
def test_a_changed_image_shows_its_old_and_new_pictures_and_labels_side_by_side(
    qtbot: QtBot, view: DatasetsView
) -> None:
    versions(view, 1, 2)
    window = view.browse()
    assert isinstance(window, VersionCompareView)
    assert window.tabs.tabText(2) == "Changed (2)"
    window.tabs.setCurrentIndex(2)
    wait_for_thumbnails(qtbot, window.thumbnails)
    # The repainted image's thumbnail: the old picture on the left, the new on the right.
    left, right = halves(thumbnail(window, "a.png"))
    assert near(left, RED) and near(right, CYAN)
    # The relabelled one's picture did not change: one picture, as the new version's.
    left, right = halves(thumbnail(window, "c.png"))
    assert near(left, BLUE) and near(right, BLUE)

    click(qtbot, window, "a.png")
    both_drawn(qtbot, window, "a.png")
    assert near(picture(window.before.viewer), RED)
    assert near(picture(window.after.viewer), CYAN)
    kept = [box("cat", 0.3, 0.3, 0.4, 0.4)]  # the same label on each picture
    assert boxes(window.before.viewer) == boxes(window.after.viewer) == kept
    assert window.change.text() == "a.png: the image changed in v2, its label did not"

    click(qtbot, window, "c.png")
    both_drawn(qtbot, window, "c.png")
    assert near(picture(window.before.viewer), BLUE)
    assert near(picture(window.after.viewer), BLUE)
    assert boxes(window.before.viewer) == [box("cat", 0.4, 0.4, 0.2, 0.2)]
    assert boxes(window.after.viewer) == [
        box("cat", 0.15, 0.15, 0.2, 0.2),
        box("dog", 0.7, 0.7, 0.1, 0.1),
    ]
    assert window.change.text() == "c.png: its label changed in v2, the image did not"

    # Added and removed images have one side only, in the grid and in the viewers.
    window.tabs.setCurrentIndex(0)
    wait_for_thumbnails(qtbot, window.thumbnails)
    assert thumbnail(window, "d.png").width() == 32  # the picture alone
    drawn(qtbot, window.after, "d.png")
    assert window.before.viewer.message == "Not in v1: the image was added."
    assert window.change.text() == "d.png: added in v2"
    window.tabs.setCurrentIndex(1)
    wait_for_thumbnails(qtbot, window.thumbnails)
    assert thumbnail(window, "b.png").width() == 32
    drawn(qtbot, window.before, "b.png")
    assert window.after.viewer.message == "Not in v2: the image was removed."
    assert window.change.text() == "b.png: removed in v2"


def test_a_missing_blob_is_said_in_the_window(
    qtbot: QtBot, view: DatasetsView, bucket: Bucket
) -> None:
    manifest = versions(view, 1)[0].manifest  # type: ignore[attr-defined]
    lost = next(f for f in manifest.files if f.path == "images/train/b.png")
    bucket.remove([blob_key(lost.sha256)])
    window = view.browse()
    assert isinstance(window, StoredImagesView)
    wait_for_thumbnails(qtbot, window.thumbnails)
    problem = window.stored.problems.text()
    assert problem.startswith("1 image could not be fetched from the store (marked in the grid)")
    assert f"images/train/b.png is missing from the store (blob {lost.sha256})" in problem
    click(qtbot, window, "b.png")
    qtbot.waitUntil(lambda: "is missing from the store" in window.viewer.message, timeout=20_000)
    assert "Traceback" not in window.viewer.message


def test_an_unreachable_store_is_said_in_the_window(
    qtbot: QtBot, view: DatasetsView, store_proxy: StoreProxy
) -> None:
    store_proxy.cut_off(blob_request("GET"))
    versions(view, 2)
    window = view.browse()
    assert isinstance(window, StoredImagesView)
    wait_for_thumbnails(qtbot, window.thumbnails)
    problem = window.stored.problems.text()
    assert "3 images could not be fetched from the store" in problem
    assert "nothing answers at" in problem
