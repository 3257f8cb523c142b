"""What one version holds, and what changed between two."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import (
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from datayard.core.datasets.describe import count, summary
from datayard.core.datasets.manifest import Manifest, diff
from datayard.core.models.describe import TrainedModel
from datayard.core.units import size

from ..rich_text import plain_label, quoted
from .formatting import when

MAX_LISTED = 2000
"""Paths listed per group of a diff: enough to read, few enough to stay responsive."""


class VersionDetails(QTextBrowser):
    """Who pushed a version, from where, its parent, splits, classes and files."""

    def show_version(
        self,
        manifest: Manifest,
        number: int,
        *,
        parent: str,
        models: Sequence[TrainedModel] = (),
    ) -> None:
        """``parent`` as :func:`parent_text` words it; ``models`` were trained on it."""
        info = summary(manifest, number)
        source = f"{info['source']['host']}: {', '.join(info['source']['paths'])}"
        overview = [
            ("Version", f"v{number}: {info['ref']}"),
            *([("Message", info["message"])] if info["message"] else []),
            ("Parent", parent),
            ("Created", when(info["created"])),
            ("Pushed by", info["pushed_by"]),
            ("From", source),
            ("Files", f"{info['files']} ({info['images']} images, {info['labels']} labels)"),
            ("Size", size(info["bytes"])),
        ]
        splits = [(split, images) for split, images in info["splits"].items()]
        classes = [(c["id"], c["name"] or "(no name)", c["instances"]) for c in info["classes"]]
        self.setHtml(
            _table(overview, header=None)
            + "<h3>Images per split</h3>"
            + (_table(splits, header=("split", "images")) if splits else "<p>no images</p>")
            + "<h3>Classes</h3>"
            + (
                _table(classes, header=("id", "name", "instances"))
                if classes
                else "<p>no labelled classes</p>"
            )
            + _models(models)
        )


def _models(models: Sequence[TrainedModel]) -> str:
    if not models:
        return ""
    rows = [(m.model, m.run, "" if m.score is None else f"{m.score:.3f}") for m in models]
    return "<h3>Models trained on it</h3>" + _table(rows, header=("model", "run", "mAP50-95"))


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...] | None) -> str:
    head = "".join(f"<th align=left>{quoted(h)}&nbsp;&nbsp;</th>" for h in header or ())
    body = "".join(
        "<tr>" + "".join(f"<td>{quoted(cell)}&nbsp;&nbsp;</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table cellspacing=2>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


class VersionDiff(QWidget):
    """Files added, removed and changed from the older version to the newer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = plain_label()
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree)

    def show_diff(self, old: Manifest, new: Manifest) -> None:
        added, removed, changed = diff(old, new)
        self.summary.setText(
            f"From {old.ref}\nto {new.ref}:\n"
            f"{count(len(added), 'file')} added, {len(removed)} removed, {len(changed)} changed"
        )
        self.tree.clear()
        for title, paths in (("Added", added), ("Removed", removed), ("Changed", changed)):
            group = QTreeWidgetItem([f"{title} ({len(paths)})"])
            group.addChildren([QTreeWidgetItem([path]) for path in paths[:MAX_LISTED]])
            if len(paths) > MAX_LISTED:
                group.addChild(QTreeWidgetItem([f"… and {len(paths) - MAX_LISTED} more"]))
            self.tree.addTopLevelItem(group)
            group.setExpanded(bool(paths) and len(paths) <= MAX_LISTED)
