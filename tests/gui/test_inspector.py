"""The set inspector on the messy tree: counts, problems, thumbnails, labels drawn, histogram."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image
from PySide6.QtCore import (
    QItemSelectionModel,
    QObject,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    Qt,
    QUrl,
    Slot,
)
from PySide6.QtGui import QDesktopServices, QWheelEvent
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QStyleOptionViewItem,
)
from pytestqt.qtbot import QtBot

from datayard.core.drive.inspection import InspectedImage
from datayard.core.store.workspace import Workspace
from datayard.gui.inspector import Inspector
from datayard.gui.inspector.charts import SizePlot
from datayard.gui.inspector.viewer import LabelViewer
from datayard.gui.thumbnails import ERROR_ROLE
from datayard.gui.workers import Operation
from tests.fixtures.messy_tree import MessyTree


@pytest.fixture
def open_inspectors() -> Iterator[list[Inspector]]:
    made: list[Inspector] = []
    yield made
    for inspector in made:
        inspector.close()


def inspector_on(
    qtbot: QtBot, made: list[Inspector], *paths: Path, size: tuple[int, int] = (900, 600)
) -> Inspector:
    inspector = Inspector(Workspace.default())
    made.append(inspector)
    qtbot.addWidget(inspector)
    inspector.resize(*size)
    inspector.show()
    with qtbot.waitSignal(inspector.inspected, timeout=20_000):
        inspector.inspect(list(paths))
    return inspector


def wait_for_thumbnails(qtbot: QtBot, inspector: Inspector) -> None:
    qtbot.waitUntil(lambda: not inspector.thumbnails.busy, timeout=10_000)


def test_counts_and_problems_of_the_messy_tree(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    inspector = inspector_on(qtbot, open_inspectors, messy_tree.root)
    images = len(messy_tree.images)
    assert inspector.thumbnails.rowCount() == images
    errors = sum(f.severity == "error" for f in messy_tree.findings)
    warnings = sum(f.severity == "warning" for f in messy_tree.findings)
    text = inspector.summary.text()
    assert f"<b>{images}</b> images" in text
    assert f"{errors} errors, {warnings} warnings" in text
    assert inspector.tabs.tabText(0) == f"Problems ({len(messy_tree.findings)})"
    # One group per kind of problem, each listing the files the fixture planted it in.
    shown = inspector.problems
    kinds = {f.kind for f in messy_tree.findings}
    assert len(shown.headings()) == len(kinds)
    truncated = shown.paths_of("image is truncated")
    assert truncated == [
        messy_tree.root / f.path for f in messy_tree.findings if f.kind == "truncated_image"
    ]
    assert inspector.inspection is not None
    first = inspector.inspection.problems[0]  # an error: errors come first
    assert first.severity == "error"
    assert shown.headings()[0].startswith(first.heading)
    assert first.hint in shown.hint.text()  # its fix, under the tree


def test_broken_images_show_the_placeholder(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    phone = messy_tree.root / "phone_dump"
    inspector = inspector_on(qtbot, open_inspectors, phone, size=(1800, 1400))  # all on screen
    qtbot.waitUntil(lambda: sum(inspector.thumbnails.stats.values()) >= 13, timeout=10_000)
    wait_for_thumbnails(qtbot, inspector)
    model = inspector.thumbnails
    broken = {
        model.index(row).data(): model.index(row).data(ERROR_ROLE)
        for row in range(model.rowCount())
        if model.index(row).data(ERROR_ROLE)
    }
    assert set(broken) == {"IMG_0004.jpg", "IMG_0005.jpg", "notes.png", "scan_huge.png"}
    assert broken["IMG_0004.jpg"] == "the image is truncated (an interrupted copy?)"
    assert model.stats["broken"] == 4


def test_thumbnails_are_cached_on_disk(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    road = messy_tree.root / "road_signs"
    first = inspector_on(qtbot, open_inspectors, road, size=(1800, 1400))
    # "cached" too: a thumbnail made by a batch that was then cancelled is read back later.
    qtbot.waitUntil(lambda: first.thumbnails.stats.total() == 11, timeout=10_000)
    cache = Workspace.default().dirs.cache / "thumbnails"
    assert len(list(cache.rglob("*.jpg"))) == 11
    second = inspector_on(qtbot, open_inspectors, road, size=(1800, 1400))
    qtbot.waitUntil(lambda: second.thumbnails.stats["cached"] == 11, timeout=10_000)
    assert second.thumbnails.stats["made"] == 0  # nothing decoded the second time


def test_only_visible_items_ask_for_thumbnails(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    inspector = inspector_on(qtbot, open_inspectors, messy_tree.root, size=(700, 500))
    model = inspector.thumbnails
    qtbot.waitUntil(lambda: model.stats.total() > 0 and not model.busy, timeout=10_000)
    seen = model.stats.total()
    assert seen < model.rowCount()  # the rest is below the fold
    inspector.grid.scrollToBottom()
    qtbot.waitUntil(lambda: model.stats.total() > seen and not model.busy, timeout=10_000)
    assert model.shown(model.rowCount() - 1)
    qtbot.waitUntil(lambda: not model.findChildren(Operation), timeout=10_000)  # none piles up


def test_histogram_and_sizes(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    expected = messy_tree.set_at("road_signs")
    inspector = inspector_on(qtbot, open_inspectors, messy_tree.root / "road_signs")
    names = expected.class_names
    want = {
        (names[i] if i < len(names) else str(i)): count.instances
        for i, count in expected.histogram.items()
    }
    histogram = inspector.histogram.chart()
    assert dict(zip(histogram.names, histogram.heights, strict=True)) == want
    assert histogram.bars is not None
    assert list(histogram.bars.opts["height"]) == histogram.heights
    assert inspector.sizes.chart().count == len(expected.pairs)


def test_the_viewer_draws_the_boxes_with_class_names(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    road = messy_tree.root / "road_signs"
    inspector = inspector_on(qtbot, open_inspectors, road)
    viewer = inspector.viewer

    def showing(name: str) -> object:
        return lambda image: image.path.name == name

    with qtbot.waitSignal(viewer.drawn, timeout=30_000, check_params_cb=showing("sign_000.jpg")):
        inspector.show_file(road / "images/train/sign_000.jpg")
    assert viewer.names == ["stop", "yield"]
    with qtbot.waitSignal(viewer.drawn, timeout=30_000, check_params_cb=showing("sign_001.jpg")):
        inspector.show_file(road / "images/train/sign_001.jpg")
    assert viewer.names == ["speed_limit"]  # one polygon
    assert viewer.shapes[0].polygon().count() == 4


def heic(path: Path, size: tuple[int, int]) -> None:
    """A HEIC photo: red on the left half, blue on the right."""
    picture = Image.new("RGB", size, (220, 20, 20))
    picture.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    pillow_heif.from_pillow(picture).save(path, quality=90)


def test_the_viewer_shows_a_heic_photo_with_its_boxes(
    qtbot: QtBot, open_inspectors: list[Inspector], tmp_path: Path
) -> None:
    phone = tmp_path / "phone"
    phone.mkdir()
    heic(phone / "IMG_0001.heic", (320, 240))
    # Class 1.0 is class 1; the second line has 6 values and is no object.
    (phone / "IMG_0001.txt").write_text("1.0 .25 .5 .2 .4\n2 .1 .1 .2 .2 .3\n")
    (phone / "classes.txt").write_text("cat\ndog\nbird\n")
    inspector = inspector_on(qtbot, open_inspectors, phone)
    viewer = inspector.viewer

    with qtbot.waitSignal(viewer.drawn, timeout=30_000):
        inspector.show_file(phone / "IMG_0001.heic")

    (picture,) = [item for item in viewer.scene().items() if isinstance(item, QGraphicsPixmapItem)]
    pixels = picture.pixmap().toImage()
    assert (pixels.width(), pixels.height()) == (320, 240)
    left, right = pixels.pixelColor(40, 120), pixels.pixelColor(280, 120)
    assert left.red() > 180 > left.blue() and right.blue() > 180 > right.red()
    assert viewer.names == ["dog"]
    corners = viewer.shapes[0].polygon().boundingRect()
    assert corners.getCoords() == pytest.approx((48, 72, 112, 168))


class _Opened(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_problem_rows_show_and_open_the_file(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    inspector = inspector_on(qtbot, open_inspectors, messy_tree.root / "road_signs")
    tree = inspector.problems
    group = next(g for g in tree.groups() if g.text(0).startswith("extension does not match"))
    row = group.child(0)
    assert row is not None
    tree.setCurrentItem(row)
    target = messy_tree.root / "road_signs/images/val/sign_101.jpg"
    assert inspector.grid.currentIndex().data() == target.name
    assert "Rename the file" in tree.hint.text()
    opened = _Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        tree.itemDoubleClicked.emit(row, 0)
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [url.toLocalFile() for url in opened.urls] == [str(target)]


def test_an_error_is_shown_as_a_sentence(
    qtbot: QtBot, open_inspectors: list[Inspector], tmp_path: Path
) -> None:
    inspector = Inspector(Workspace.default())
    open_inspectors.append(inspector)
    qtbot.addWidget(inspector)
    operation = inspector.inspect([tmp_path / "gone"])
    assert operation is not None
    with qtbot.waitSignal(operation.ended, timeout=30_000):
        pass
    assert inspector.summary.text() == "Inspection failed."
    assert "gone does not exist" in inspector.bar.message.text()


def test_the_chosen_images_are_the_selected_ones_or_else_all_it_shows(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    inspector = inspector_on(qtbot, open_inspectors, messy_tree.root / "road_signs")
    shown = [image.path for image in inspector.inspection.images]  # type: ignore[union-attr]
    assert len(shown) > 3 and inspector.grid.currentIndex().row() == 0
    assert inspector.chosen_images() == shown  # the first is shown, not chosen
    selection = inspector.grid.selectionModel()
    for row in (3, 1):
        selection.select(inspector.thumbnails.index(row), QItemSelectionModel.SelectionFlag.Select)
    assert inspector.chosen_images() == [shown[1], shown[3]]


def test_image_sizes_are_plotted_in_pixels_with_megapixels_on_hover(qtbot: QtBot) -> None:
    plot = SizePlot()
    qtbot.addWidget(plot)
    plot.show_sizes([(4000, 3000), (640, 480)])
    plot.resize(400, 300)
    plot.show()
    qtbot.waitExposed(plot)

    axis = plot.getAxis("bottom")
    plot.getPlotItem().getViewBox().autoRange()
    qtbot.waitUntil(lambda: axis.range[1] > 1000, timeout=10_000)
    assert "width (px)<" in axis.labelString()  # pyqtgraph would say "kpx" at these sizes
    assert "12.0 MP" in plot.points.opts["tip"](4000, 3000, None)
    assert plot.points.opts["hoverable"]


def showing(name: str) -> Callable[[InspectedImage], bool]:
    return lambda image: image.path.name == name


def wheel(viewer: LabelViewer, at: QPoint, notches: int) -> None:
    """Turn the mouse wheel over the image, as a mouse does: 120 eighths of a degree a notch."""
    event = QWheelEvent(
        QPointF(at),
        QPointF(viewer.viewport().mapToGlobal(at)),
        QPoint(),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewer.viewport(), event)


def fits(viewer: LabelViewer) -> bool:
    """The whole image is in the view and fills it in one direction."""
    shown = viewer.mapFromScene(viewer.sceneRect()).boundingRect()
    space = viewer.viewport().rect()
    inside = space.adjusted(-1, -1, 1, 1).contains(shown)
    return inside and min(space.width() - shown.width(), space.height() - shown.height()) <= 4


def test_the_viewer_zooms_with_the_wheel_fits_and_shows_actual_pixels(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    road = messy_tree.root / "road_signs"
    inspector = inspector_on(qtbot, open_inspectors, road)
    viewer, pane = inspector.viewer, inspector.image_pane
    with qtbot.waitSignal(viewer.drawn, timeout=30_000, check_params_cb=showing("sign_000.jpg")):
        inspector.show_file(road / "images/train/sign_000.jpg")
    assert pane.info.text() == "sign_000.jpg  ·  64 × 48 px  ·  train  ·  2 labels"
    assert viewer.fitting and fits(viewer) and pane.fit_action.isChecked()

    fitted = viewer.zoom
    wheel(viewer, viewer.viewport().rect().center(), 8)  # the image now overflows the view
    assert viewer.zoom == pytest.approx(fitted * 1.2**8, rel=0.01)
    assert not viewer.fitting and not pane.fit_action.isChecked()
    cursor = QPoint(viewer.viewport().width() // 4, viewer.viewport().height() // 3)
    under = viewer.mapToScene(cursor)
    wheel(viewer, cursor, -1)
    assert viewer.zoom == pytest.approx(fitted * 1.2**7, rel=0.01)
    moved = viewer.mapToScene(cursor) - under
    assert abs(moved.x()) < 1 and abs(moved.y()) < 1  # zoomed around the cursor
    assert pane.zoom.text() == f"{viewer.zoom:.0%}"

    inspector.activateWindow()
    qtbot.waitActive(inspector)
    viewer.setFocus()
    qtbot.keyClick(viewer, "1")
    assert viewer.transform().m11() == viewer.transform().m22() == 1  # actual pixels
    inspector.resize(1000, 700)
    qtbot.waitUntil(lambda: viewer.viewport().height() > 300)
    assert viewer.zoom == 1  # a resize refits only in fit mode
    qtbot.keyClick(viewer, "f")
    assert viewer.fitting and fits(viewer)
    inspector.resize(900, 600)
    qtbot.waitUntil(lambda: fits(viewer))


def test_the_viewer_says_when_an_image_has_no_label(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    road = messy_tree.root / "road_signs"
    inspector = inspector_on(qtbot, open_inspectors, road)
    name = "background_01.jpg"
    with qtbot.waitSignal(inspector.viewer.drawn, timeout=30_000, check_params_cb=showing(name)):
        inspector.show_file(road / "images/train" / name)
    assert inspector.image_pane.info.text() == f"{name}  ·  64 × 48 px  ·  train  ·  no label file"


def screen_rect(viewer: LabelViewer, tag: QGraphicsItem) -> QRectF:
    return tag.deviceTransform(viewer.viewportTransform()).mapRect(tag.boundingRect())


def test_class_tags_never_cover_each_other_and_keep_their_size(
    qtbot: QtBot, open_inspectors: list[Inspector], tmp_path: Path
) -> None:
    folder = tmp_path / "shelf"
    folder.mkdir()
    Image.new("RGB", (400, 200), (90, 90, 90)).save(folder / "shelf.jpg")
    # Two boxes side by side, their tops level: the first's long tag reaches over the second.
    (folder / "shelf.txt").write_text("0 .15 .5 .1 .4\n1 .27 .5 .1 .4\n")
    (folder / "classes.txt").write_text("a_rather_long_class_name\nanother_long_class_name\n")
    inspector = inspector_on(qtbot, open_inspectors, folder)
    viewer = inspector.viewer
    with qtbot.waitSignal(viewer.drawn, timeout=30_000):
        inspector.show_file(folder / "shelf.jpg")
    assert viewer.names == ["a_rather_long_class_name", "another_long_class_name"]
    first, second = viewer.tags

    viewer.actual_pixels()  # at a scale of 1, scene and screen agree
    assert not first.sceneBoundingRect().intersects(second.sceneBoundingRect())
    size = screen_rect(viewer, first).size()
    for notches in (-3, 6, 6):
        wheel(viewer, viewer.viewport().rect().center(), notches)
        assert not screen_rect(viewer, first).intersects(screen_rect(viewer, second))
        assert screen_rect(viewer, first).size() == size  # the same size at any zoom


def test_arrow_keys_and_page_down_move_through_the_grid_and_the_viewer_follows(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    inspector = inspector_on(qtbot, open_inspectors, messy_tree.root / "road_signs")
    grid, images = inspector.grid, inspector.thumbnails.images
    assert grid.currentIndex().row() == 0
    second = images[1].path.name
    with qtbot.waitSignal(inspector.viewer.drawn, timeout=30_000, check_params_cb=showing(second)):
        qtbot.keyClick(grid.viewport(), Qt.Key.Key_Right)
    assert grid.currentIndex().row() == 1
    assert inspector.image_pane.info.text().startswith(second)
    with qtbot.waitSignal(inspector.viewer.drawn, timeout=30_000) as drawn:
        qtbot.keyClick(grid.viewport(), Qt.Key.Key_PageDown)
    row = grid.currentIndex().row()
    assert row > 1 and drawn.args == [images[row]]
    with qtbot.waitSignal(inspector.viewer.drawn, timeout=30_000, check_params_cb=showing(second)):
        qtbot.keyClick(grid.viewport(), Qt.Key.Key_PageUp)


def filtered(inspector: Inspector, text_start: str) -> set[str]:
    """The names the grid shows with the filter whose text starts with ``text_start``."""
    box = inspector.filter
    box.setCurrentIndex(
        next(i for i in range(box.count()) if box.itemText(i).startswith(text_start))
    )
    return {image.path.name for image in inspector.thumbnails.images}


def test_the_grid_filters_by_problems_labels_and_class(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    inspector = inspector_on(qtbot, open_inspectors, messy_tree.root / "road_signs")
    everything = {image.path.name for image in inspector.thumbnails.images}
    label_errors = {"sign_002.jpg", "sign_003.png", "sign_004.jpg", "sign_005.jpg"}
    misnamed, copies = {"sign_101.jpg"}, {"sign_006.jpg", "sign_102.jpg"}
    assert filtered(inspector, "With errors or warnings (7)") == label_errors | misnamed | copies
    assert filtered(inspector, "Unlabelled (1)") == {"background_01.jpg"}
    # A line out of range still names its class (sign_003), beside a bad line (sign_005).
    yields = {"sign_000.jpg", "sign_003.png", "sign_005.jpg", "sign_101.jpg"}
    assert filtered(inspector, "Class yield (4)") == yields
    assert filtered(inspector, "Class 7 (1)") == {"sign_002.jpg"}  # beyond the names
    assert inspector.chosen_images() == [messy_tree.root / "road_signs/images/train/sign_002.jpg"]
    assert filtered(inspector, "All images") == everything
    assert inspector.grid.currentIndex().data() == "sign_002.jpg"  # the image in the viewer


def test_a_label_finding_selects_its_image_and_outlines_the_object_of_its_line(
    qtbot: QtBot, open_inspectors: list[Inspector], messy_tree: MessyTree
) -> None:
    inspector = inspector_on(qtbot, open_inspectors, messy_tree.root / "road_signs")
    assert filtered(inspector, "Unlabelled") == {"background_01.jpg"}  # the image is hidden
    tree, viewer = inspector.problems, inspector.viewer
    group = next(g for g in tree.groups() if g.text(0).startswith("class id beyond the class"))
    row = group.child(0)
    assert row is not None
    label = messy_tree.root / "road_signs/labels/train/sign_002.txt"
    assert row.toolTip(0) == str(label)  # the whole path; the cell elides its middle
    cell = QStyleOptionViewItem()
    cell.initFrom(tree)
    cell.rect = QRect(0, 0, cell.fontMetrics.horizontalAdvance("road_signs/lab…/sign_002.txt"), 20)
    tree.itemDelegateForColumn(0).initStyleOption(cell, tree.indexFromItem(row))
    start, _, end = cell.text.partition("…")  # 'road_si…/train/sign_002.txt'
    assert start and "road_signs/labels/".startswith(start) and end.endswith("/sign_002.txt")

    with qtbot.waitSignal(viewer.drawn, timeout=30_000, check_params_cb=showing("sign_002.jpg")):
        tree.setCurrentItem(row)  # "line 2: class 7 is beyond the set's 4 class names"
    assert inspector.grid.currentIndex().data() == "sign_002.jpg"
    assert inspector.filter.currentText().startswith("All images")
    assert viewer.names == ["stop", "7"] and viewer.highlighted is viewer.shapes[1]
    pen = viewer.shapes[1].pen()
    assert pen.style() == Qt.PenStyle.DashLine and pen.width() > viewer.shapes[0].pen().width()
