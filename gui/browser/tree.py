"""The tree of shared-drive folders: filled lazily from listings made in worker threads.

QFileSystemModel was measured freezing the window for about a second when a
100,000-file folder opens (it sorts and stats on the UI thread). Here a folder
is listed and sorted by :func:`datayard.core.drive.folder_listing.list_folder` in a
worker, which also builds the rows (QStandardItem is no QObject: it may be made
in any thread), or, for a folder already shown, works out which rows changed.
The UI thread only adds rows in batches between events, or applies the
changes, so the longest stall stays in the tens of milliseconds. Icons and
colours are the delegate's business, so that nothing here touches a pixmap off
the UI thread.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from PySide6.QtCore import QMimeData, QModelIndex, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel

from datayard.core.drive.folder_listing import Entry, Listing, Root, SortKey
from datayard.core.drive.inspection import FolderSummary

from ..rich_text import as_written

BATCH = 2000
"""Rows added per turn of the event loop: a few milliseconds, then the view's layout.

5,000 made the longest stall opening a 100,000-file folder 60-83 ms; 2,000 (with
the name index built in the worker) 36-66 ms; 1,000 was no better than 2,000."""

FEED_INTERVAL_MS = 1
"""Between batches. A zero timer, chained with the view's own zero-delay layout timer,
ran two batches and two layouts (twice 15 ms at 100,000 rows) before input and other
timers got a turn."""

EMPTY = "No folders or images here"


def _changed(key: SortKey, entry: Entry | None) -> bool:
    """Gone, or a file that became a folder (or back)."""
    return entry is None or entry.sort_key != key


class Role(IntEnum):
    PATH = Qt.ItemDataRole.UserRole + 1
    KIND = Qt.ItemDataRole.UserRole + 2
    MTIME = Qt.ItemDataRole.UserRole + 3
    SUMMARY = Qt.ItemDataRole.UserRole + 4
    OWNED = Qt.ItemDataRole.UserRole + 5
    WARNING = Qt.ItemDataRole.UserRole + 6


class Kind(IntEnum):
    FOLDER = 1
    FILE = 2
    NOTE = 3
    """A row that only says something: loading, empty, cannot be read."""


def folder_row(name: str, path: str, mtime_ns: int) -> QStandardItem:
    item = _row(name, path, mtime_ns, Kind.FOLDER)
    item.appendRow(note_row("Loading…"))  # gives the folder its expand arrow
    return item


def note_row(text: str, *, warning: bool = False) -> QStandardItem:
    item = QStandardItem(text)
    item.setData(Kind.NOTE, Role.KIND)
    item.setData(warning, Role.WARNING)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled)
    if warning:
        item.setToolTip(as_written(text))
    return item


def _row(name: str, path: str, mtime_ns: int, kind: Kind) -> QStandardItem:
    item = QStandardItem(name)
    item.setData(path, Role.PATH)
    item.setData(kind, Role.KIND)
    item.setData(mtime_ns, Role.MTIME)
    item.setEditable(False)
    item.setDropEnabled(False)
    return item


@dataclass
class Rows:
    """A folder's rows, built in a worker: batches to add, and the folder rows among them."""

    batches: list[list[QStandardItem]]
    folders: dict[str, QStandardItem]
    keys: list[SortKey]
    """The sort key of each row, in order (computing them takes a while, too)."""
    key_of: dict[str, SortKey]
    """Each row's sort key by name: indexing 100,000 names stalls a UI thread for 20 ms."""


def build_rows(folder: Path, entries: Sequence[Entry]) -> Rows:
    """Safe in any thread: touches no model, icon or palette."""
    folders: dict[str, QStandardItem] = {}
    rows = []
    base = str(folder)
    for entry in entries:
        path = f"{base}/{entry.name}"
        if entry.is_dir:
            folders[path] = folder_row(entry.name, path, entry.mtime_ns)
            rows.append(folders[path])
        else:
            rows.append(_row(entry.name, path, entry.mtime_ns, Kind.FILE))
    batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
    keys = [entry.sort_key for entry in entries]
    return Rows(batches, folders, keys, {key[-1]: key for key in keys})  # the name ends the key


@dataclass(frozen=True)
class Known:
    """A loaded folder's rows when a listing of it started: what the worker compares with."""

    generation: int
    key_of: dict[str, SortKey]


@dataclass
class FolderUpdate:
    """What a fresh listing changes in a folder, worked out in the listing's worker.

    Either every row (``rows``: the folder is filled from scratch), or the
    differences from :class:`Known`, so that a change of one file in a folder of
    100,000 costs the UI thread one row, not a pass over all of them.
    """

    folder: str
    mtime_ns: int
    rows: Rows | None = None
    based_on: int = 0
    """The :attr:`Known.generation` the differences are from."""
    removed: list[str] = field(default_factory=list)
    """Names gone, or that turned from file to folder (or back): they come again in ``added``."""
    added: Rows | None = None
    folder_mtimes: dict[str, int] = field(default_factory=dict)
    """The modification time of each kept folder, by name: it tells stale badges."""


def plan_update(listing: Listing, known: Known | None) -> FolderUpdate:
    """Safe in any thread, like :func:`build_rows`."""
    folder, mtime_ns = str(listing.folder), listing.mtime_ns
    if known is None:
        return FolderUpdate(folder, mtime_ns, rows=build_rows(listing.folder, listing.entries))
    wanted = {entry.name: entry for entry in listing.entries}
    removed = [name for name, key in known.key_of.items() if _changed(key, wanted.get(name))]
    gone = set(removed)
    added = [e for e in listing.entries if e.name not in known.key_of or e.name in gone]
    if len(removed) + len(added) > BATCH:
        return FolderUpdate(folder, mtime_ns, rows=build_rows(listing.folder, listing.entries))
    kept_folders = (e for e in listing.entries if e.is_dir and e.name not in gone)
    return FolderUpdate(
        folder,
        mtime_ns,
        based_on=known.generation,
        removed=removed,
        added=build_rows(listing.folder, added),
        folder_mtimes={e.name: e.mtime_ns for e in kept_folders if e.name in known.key_of},
    )


def _rows_of(rows: Rows) -> Iterator[QStandardItem]:
    return (row for batch in rows.batches for row in batch)


class FolderTree(QStandardItemModel):
    """Roots, their folders and images; folders gain rows when :meth:`apply` gets a listing."""

    folder_filled = Signal(str)
    """A folder's rows are all in (its path)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeaderLabels(["Folder"])
        self._folders: dict[str, QStandardItem] = {}
        self._keys: dict[str, list[SortKey]] = {}
        """Per loaded folder, the sort key of each row, in row order."""
        self._key_of: dict[str, dict[str, SortKey]] = {}
        self._feeding: dict[str, Iterator[list[QStandardItem]]] = {}
        self._generation: dict[str, int] = {}
        """Per loaded folder, how many times its rows changed: a diff must start from the last."""

    # Building ------------------------------------------------------------------

    def set_roots(self, roots: Sequence[Root]) -> None:
        self.removeRows(0, self.rowCount())
        self._folders.clear()
        self._keys.clear()
        self._key_of.clear()
        self._feeding.clear()
        self._generation.clear()
        for root in roots:
            item = folder_row(root.path.name or str(root.path), str(root.path), 0)
            item.setToolTip(as_written(str(root.path)))
            item.setData(root.owned, Role.OWNED)
            self._folders[str(root.path)] = item
            if root.problem is not None:
                item.removeRows(0, item.rowCount())
                item.appendRow(note_row(f"Cannot open: {root.problem}", warning=True))
            self.appendRow(item)

    # Listings ------------------------------------------------------------------

    def folder(self, path: Path | str) -> QStandardItem | None:
        return self._folders.get(str(path))

    def is_loaded(self, item: QStandardItem) -> bool:
        return str(item.data(Role.PATH)) in self._keys

    def loaded_folders(self) -> list[str]:
        return list(self._keys)

    def show_note(self, path: str, text: str, *, warning: bool = False) -> None:
        """Say something in place of a folder's rows (progress, or why it cannot be read)."""
        item = self._folders.get(path)
        if item is None or self.is_loaded(item):
            return
        item.removeRows(0, item.rowCount())
        item.appendRow(note_row(text, warning=warning))

    def known(self, path: str) -> Known | None:
        """What a listing that starts now compares with; ``None``: fill the folder from scratch."""
        if path not in self._key_of or path in self._feeding:
            return None
        return Known(self._generation[path], dict(self._key_of[path]))

    def apply(self, update: FolderUpdate) -> bool:
        """Bring a folder's rows in line with a fresh listing; ``False`` when the update
        compares with rows that changed since (the folder must be listed again)."""
        path = update.folder
        item = self._folders.get(path)
        if item is None:
            return True
        if update.rows is not None:
            item.setData(update.mtime_ns, Role.MTIME)
            self._refill(item, path, update.rows)
            return True
        if self._generation.get(path) != update.based_on or path in self._feeding:
            return False
        item.setData(update.mtime_ns, Role.MTIME)
        self._generation[path] += 1
        keys, key_of = self._keys[path], self._key_of[path]
        for name in update.removed:
            row = bisect_left(keys, key_of.pop(name))
            self._forget(item.child(row))
            item.removeRow(row)
            del keys[row]
        assert update.added is not None
        self._folders.update(update.added.folders)
        for key, row_item in zip(update.added.keys, _rows_of(update.added), strict=True):
            row = bisect_left(keys, key)
            keys.insert(row, key)
            key_of[key[-1]] = key
            item.insertRow(row, [row_item])  # a list: the single-item overload adds nothing
        for name, mtime_ns in update.folder_mtimes.items():
            item.child(bisect_left(keys, key_of[name])).setData(mtime_ns, Role.MTIME)
        if not keys:
            item.appendRow(note_row(EMPTY))
        elif item.rowCount() > len(keys):  # the "empty" note of a folder that is not any more
            item.removeRow(item.rowCount() - 1)
        self.folder_filled.emit(path)
        return True

    def _refill(self, item: QStandardItem, path: str, rows: Rows) -> None:
        for row in range(item.rowCount()):
            self._forget(item.child(row))
        item.removeRows(0, item.rowCount())
        self._keys[path] = rows.keys
        self._key_of[path] = rows.key_of
        self._generation[path] = self._generation.get(path, 0) + 1
        self._folders.update(rows.folders)
        if not rows.keys:
            self._feeding.pop(path, None)
            item.appendRow(note_row(EMPTY))
            self.folder_filled.emit(path)
            return
        self._feeding[path] = iter(rows.batches)
        self._feed(path)

    def _feed(self, path: str) -> None:
        batches = self._feeding.get(path)
        item = self._folders.get(path)
        if batches is None or item is None:
            return
        batch = next(batches, None)
        if batch is None:
            del self._feeding[path]
            self.folder_filled.emit(path)
            return
        item.appendRows(batch)
        QTimer.singleShot(FEED_INTERVAL_MS, self, lambda: self._feed(path))

    def _forget(self, item: QStandardItem) -> None:
        """Drop what is known of a removed folder and everything under it."""
        path = str(item.data(Role.PATH))
        if item.data(Role.KIND) != Kind.FOLDER or path not in self._folders:
            return
        prefix = path.rstrip("/") + "/"
        for known in (self._folders, self._keys, self._key_of, self._feeding, self._generation):
            for key in [key for key in known if key == path or key.startswith(prefix)]:
                del known[key]

    # Badges ----------------------------------------------------------------

    def set_summary(self, summary: FolderSummary) -> None:
        item = self._folders.get(str(summary.folder))
        if item is not None:
            item.setData(summary, Role.SUMMARY)
            item.setToolTip(as_written(f"{summary.folder}\n{summary.describe()}"))

    # Drag ------------------------------------------------------------------

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt override
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:  # noqa: N802 - Qt override
        """File URLs of the dragged folders and images, for the push area or a file manager."""
        data = QMimeData()
        paths = dict.fromkeys(
            str(index.data(Role.PATH)) for index in indexes if index.data(Role.PATH) is not None
        )
        data.setUrls([QUrl.fromLocalFile(path) for path in paths])
        return data

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802 - Qt override
        return Qt.DropAction.CopyAction
