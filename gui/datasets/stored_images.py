"""A stored version's images, and what changed between two versions, seen as the inspector
shows a folder: its thumbnail grid and its viewer, fed from the store.

Thumbnails are fetched for the items the grid paints only, an image when it
is clicked, both in workers and kept on disk (see
:mod:`datayard.core.datasets.stored_images`). Closing a window cancels what it
was fetching. A store that cannot be reached or a missing blob is said in
the window's notice (and in the viewer, for the image clicked).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QSplitter, QTabBar, QVBoxLayout, QWidget

from datayard.core.datasets.blob_cache import BlobCache
from datayard.core.datasets.describe import count
from datayard.core.datasets.manifest import Manifest
from datayard.core.datasets.stored_images import (
    StoredThumbnails,
    VersionImages,
    image_diff,
    label_path,
)
from datayard.core.drive.inspection import InspectedImage
from datayard.core.drive.thumbnails import ThumbnailCache
from datayard.core.paths import AppDirs
from datayard.core.store.bucket import Bucket

from ..inspector.filters import FilterBox
from ..inspector.grid import ThumbnailGrid
from ..inspector.image_pane import ImagePane
from ..notice import Notice
from ..rich_text import plain_label
from ..thumbnails import ThumbnailModel


class _StoredGrid(QWidget):
    """A grid of stored images over a notice of what the store could not give."""

    def __init__(self, source: StoredThumbnails, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.thumbnails = ThumbnailModel(source, self)
        self.thumbnails.thumbnails_loaded.connect(self._report)
        self.grid = ThumbnailGrid(self.thumbnails)
        self.problems = Notice()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.problems)
        layout.addWidget(self.grid, 1)

    def show_images(self, images: Sequence[InspectedImage]) -> None:
        self.thumbnails.set_images(images)
        if images:  # current, not selected, as in the inspector
            self.grid.selectionModel().setCurrentIndex(
                self.thumbnails.index(0), QItemSelectionModel.SelectionFlag.NoUpdate
            )

    def _report(self) -> None:
        failures = list(self.source.failures)
        if failures:
            self.problems.error(
                f"{count(len(failures), 'image')} could not be fetched from the store "
                f"(marked in the grid): {failures[0]}"
            )


def _pane(version: VersionImages, caption: str) -> tuple[QWidget, ImagePane]:
    """A viewer of ``version``'s images under a caption that names it."""
    pane = ImagePane(local=version.local)
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(plain_label(caption))
    layout.addWidget(pane, 1)
    return box, pane


def _version_name(manifest: Manifest, number: int) -> str:
    return f"{manifest.owner}/{manifest.name} v{number}"


class StoredImagesView(QWidget):
    """Every image of one version, or those a filter keeps (the unlabelled, a class's);
    the one clicked with its label."""

    def __init__(
        self,
        manifest: Manifest,
        number: int,
        bucket: Bucket,
        dirs: AppDirs,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{_version_name(manifest, number)}: images")
        self.version = VersionImages(manifest, BlobCache(dirs.blobs, bucket))
        self.source = StoredThumbnails(
            ThumbnailCache(dirs.thumbnails), self.version.blobs, self.version.files
        )
        self.stored = _StoredGrid(self.source)
        self.thumbnails, self.grid = self.stored.thumbnails, self.stored.grid
        self.grid.selectionModel().currentChanged.connect(self._on_current)
        self.image_pane = ImagePane(local=self.version.local)
        self.viewer = self.image_pane.viewer
        images = self.version.images
        self.summary = plain_label(
            f"{_version_name(manifest, number)} ({manifest.id}): "
            f"{count(len(images), 'image')}, {self.version.labelled} labelled"
        )
        self.filter = FilterBox()
        self.filter.show_filters(self.version)
        self.filter.picked.connect(self._on_filter)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.stored)
        splitter.addWidget(self.image_pane)
        splitter.setSizes([1000, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addLayout(self.filter.row())
        layout.addWidget(splitter, 1)
        self.stored.show_images(images)
        if not images:
            self.viewer.show_message("This version holds no image.")

    def stop(self) -> None:
        """Cancel the thumbnails and the image being fetched."""
        self.thumbnails.stop()
        self.viewer.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)

    def _on_filter(self) -> None:
        picked = self.filter.current
        if picked is None:
            return
        images = picked.apply(self.version.images)
        self.stored.show_images(images)
        if not images:
            self.viewer.show_message("No image of this version passes this filter.")

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.grid.scrollTo(current)
            self.viewer.show_image(self.thumbnails.images[current.row()])


GROUPS = ("Added", "Removed", "Changed")


class VersionCompareView(QWidget):
    """The images added, removed and changed from ``old`` to ``new``, one group at a time;
    the one clicked in the old version beside the new, each with its label.

    A changed image has other content at the same path, or the same content
    with another label. The grid shows the new version's thumbnail, a removed
    image's old one, and the old picture beside the new for an image whose
    content changed. The line over the viewers says what changed.
    """

    def __init__(
        self,
        old: tuple[Manifest, int],
        new: tuple[Manifest, int],
        bucket: Bucket,
        dirs: AppDirs,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        (before, self.old_number), (after, self.new_number) = old, new
        names = _version_name(before, self.old_number), _version_name(after, self.new_number)
        self.setWindowTitle(f"{names[0]} → {names[1]}")
        blobs = BlobCache(dirs.blobs, bucket)
        self.old, self.new = VersionImages(before, blobs), VersionImages(after, blobs)
        diff = image_diff(before, after)
        self.groups = {"Added": diff.added, "Removed": diff.removed, "Changed": diff.changed}
        files = {**self.old.files, **self.new.files}  # paths of the new: added and changed
        self.source = StoredThumbnails(
            ThumbnailCache(dirs.thumbnails), blobs, files, before=self.old.files
        )
        self.stored = _StoredGrid(self.source)
        self.thumbnails, self.grid = self.stored.thumbnails, self.stored.grid
        self.grid.selectionModel().currentChanged.connect(self._on_current)
        self.tabs = QTabBar()
        for group in GROUPS:
            self.tabs.addTab(f"{group} ({len(self.groups[group])})")
        self.tabs.currentChanged.connect(self._show_group)
        old_box, self.before = _pane(self.old, f"Before: {names[0]}")
        new_box, self.after = _pane(self.new, f"After: {names[1]}")
        self.summary = plain_label(
            f"From {names[0]} to {names[1]}: {count(len(diff.added), 'image')} added, "
            f"{len(diff.removed)} removed, {len(diff.changed)} changed"
        )
        self.change = plain_label()
        """What changed in the image clicked: its content, its label or both."""
        sides = QSplitter(Qt.Orientation.Horizontal)
        sides.addWidget(old_box)
        sides.addWidget(new_box)
        viewers = QWidget()
        column = QVBoxLayout(viewers)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.change)
        column.addWidget(sides, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.stored)
        splitter.addWidget(viewers)
        splitter.setSizes([800, 1200])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs)
        layout.addWidget(splitter, 1)
        first = next((i for i, group in enumerate(GROUPS) if self.groups[group]), 0)
        self.tabs.setCurrentIndex(first)
        self._show_group(first)

    def stop(self) -> None:
        """Cancel the thumbnails and the images being fetched."""
        self.thumbnails.stop()
        self.before.viewer.stop()
        self.after.viewer.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)

    def _show_group(self, index: int) -> None:
        group = GROUPS[index]
        side = self.old if group == "Removed" else self.new
        images = [side.by_path[path] for path in self.groups[group]]
        self.stored.show_images(images)
        if not images:
            self.change.setText("")
            for pane in (self.before, self.after):
                pane.viewer.show_message(f"No image was {group.lower()}.")

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        self.grid.scrollTo(current)
        path = self.thumbnails.images[current.row()].path.as_posix()
        self.change.setText(self._what_changed(path))
        for pane, side, number, missing in (
            (self.before, self.old, self.old_number, "added"),
            (self.after, self.new, self.new_number, "removed"),
        ):
            image = side.by_path.get(path)
            if image is None:
                pane.viewer.show_message(f"Not in v{number}: the image was {missing}.")
            else:
                pane.viewer.show_image(image)

    def _what_changed(self, path: str) -> str:
        name = PurePosixPath(path).name
        old, new = self.old.files.get(path), self.new.files.get(path)
        if old is None:
            return f"{name}: added in v{self.new_number}"
        if new is None:
            return f"{name}: removed in v{self.new_number}"
        label = label_path(path)
        before, after = self.old.files.get(label), self.new.files.get(label)
        relabelled = (before.sha256 if before else None) != (after.sha256 if after else None)
        version = f"v{self.new_number}"
        if old.sha256 == new.sha256:
            return f"{name}: its label changed in {version}, the image did not"
        if relabelled:
            return f"{name}: the image and its label changed in {version}"
        return f"{name}: the image changed in {version}, its label did not"
