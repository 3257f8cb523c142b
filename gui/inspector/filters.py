"""Which images the thumbnail grid shows: all, those with problems, the unlabelled, or a class's.

Each filter is a test of what is already known about an image (its worst
finding, its label, its class ids), so filtering 100,000 images reads no
file: one pass in a list comprehension, not a call from Qt per row. An
inspection and a stored version's images (which nothing checked: no filter
by problems) both offer what :class:`Filterable` names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from datayard.core.drive.inspection import ClassCount, InspectedImage

Test = Callable[[InspectedImage], bool]


class Filterable(Protocol):
    """Images and what the filters count of them, counted once (not by the UI thread)."""

    @property
    def images(self) -> Sequence[InspectedImage]: ...

    @property
    def classes(self) -> Sequence[ClassCount]: ...

    @property
    def labelled(self) -> int: ...

    @property
    def with_problems(self) -> int | None:
        """``None`` when nothing checked the images: no filter by problems."""


@dataclass(frozen=True)
class ImageFilter:
    text: str
    keeps: Test | None
    """``None`` keeps every image."""

    def apply(self, images: Sequence[InspectedImage]) -> Sequence[InspectedImage]:
        return images if self.keeps is None else [image for image in images if self.keeps(image)]


def has_class(name: str) -> Test:
    """Whether an image's label holds an object of the class shown as ``name``.

    Sets name their classes differently: the ids named ``name`` are looked up
    once per list of names (an id beyond the names is shown as the number).
    """
    ids_of: dict[tuple[str, ...], frozenset[int]] = {}

    def keeps(image: InspectedImage) -> bool:
        ids = ids_of.get(image.class_names)
        if ids is None:
            ids = ids_of[image.class_names] = _ids_named(image.class_names, name)
        return not ids.isdisjoint(image.class_ids)

    return keeps


def _ids_named(names: tuple[str, ...], name: str) -> frozenset[int]:
    ids = {class_id for class_id, named in enumerate(names) if named == name}
    if name.isdecimal() and str(int(name)) == name and int(name) >= len(names):
        ids.add(int(name))
    return frozenset(ids)


def filters_of(shown: Filterable) -> list[ImageFilter]:
    """All, with problems (when checked), unlabelled, then one per class, each with its
    count of images."""
    images = len(shown.images)
    problems = shown.with_problems
    return [
        ImageFilter(f"All images ({images:,})", None),
        *(
            []
            if problems is None
            else [
                ImageFilter(
                    f"With errors or warnings ({problems:,})", lambda image: image.has_problems
                )
            ]
        ),
        ImageFilter(f"Unlabelled ({images - shown.labelled:,})", lambda image: image.label is None),
        *(
            ImageFilter(f"Class {count.name} ({count.images:,})", has_class(count.name))
            for count in shown.classes
        ),
    ]


class FilterBox(QComboBox):
    """The filters of the images shown; picking one emits :attr:`picked`."""

    picked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Which images the grid shows")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.filters: list[ImageFilter] = []
        self.currentIndexChanged.connect(self.picked)
        self.show_filters(None)

    def show_filters(self, shown: Filterable | None) -> None:
        """The filters of ``shown``, "All images" picked (without emitting :attr:`picked`)."""
        self.filters = filters_of(shown) if shown is not None else []
        self.blockSignals(True)
        self.clear()
        self.addItems([image_filter.text for image_filter in self.filters] or ["All images"])
        self.blockSignals(False)
        self.setEnabled(bool(self.filters))

    @property
    def current(self) -> ImageFilter | None:
        """The filter picked, ``None`` while there are no images to filter."""
        return self.filters[self.currentIndex()] if self.filters else None

    def row(self) -> QHBoxLayout:
        """The box after "Show:", as a row over a grid."""
        row = QHBoxLayout()
        row.addWidget(QLabel("Show:"))
        row.addWidget(self)
        row.addStretch(1)
        return row
