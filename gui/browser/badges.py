"""Badges drawn at the right of a scanned folder's name: images, labelled share, layout, problems.

Painted by a delegate, so only the rows on screen cost anything. A badge whose
folder changed since its scan is drawn faded until the folder is scanned again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from datayard.core.drive.check import Severity
from datayard.core.drive.inspection import Badge, FolderSummary

from .tree import Kind, Role

_MIN_NAME_PX = 90
_GAP = 4
_PAD = 5
_FILLS = {Severity.ERROR: QColor("#c62828"), Severity.WARNING: QColor("#e65100")}


def is_stale(summary: FolderSummary, index: QModelIndex | QPersistentModelIndex) -> bool:
    mtime = index.data(Role.MTIME)
    return bool(mtime) and mtime != summary.mtime_ns


class BadgeDelegate(QStyledItemDelegate):
    """Draws every row of the tree: its icon by kind, notes greyed, badges of scanned folders."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style = QApplication.style()
        self._icons = {
            (Kind.FOLDER, False): style.standardIcon(QStyle.StandardPixmap.SP_DirIcon),
            (Kind.FOLDER, True): style.standardIcon(QStyle.StandardPixmap.SP_DirHomeIcon),
            (Kind.FILE, False): style.standardIcon(QStyle.StandardPixmap.SP_FileIcon),
            (Kind.NOTE, True): style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning),
        }

    def initStyleOption(  # noqa: N802 - Qt override
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        kind = index.data(Role.KIND)
        flag = bool(index.data(Role.OWNED) or index.data(Role.WARNING))
        icon = self._icons.get((kind, flag)) or self._icons.get((kind, False))
        if icon is not None:
            option.icon = icon
            option.features |= QStyleOptionViewItem.ViewItemFeature.HasDecoration
        if kind == Kind.NOTE:
            palette: QPalette = option.palette
            palette.setColor(QPalette.ColorRole.Text, palette.placeholderText().color())

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        summary = index.data(Role.SUMMARY)
        if not isinstance(summary, FolderSummary):
            super().paint(painter, option, index)
            return
        font = QFont(option.font)
        font.setPointSizeF(max(font.pointSizeF() * 0.85, 6.0))
        metrics = QFontMetrics(font)
        rect: QRect = option.rect
        room = rect.width() - _MIN_NAME_PX
        badges = fitting(summary.badges, room, lambda badge: _width([badge], metrics))
        used = _width(badges, metrics)
        name_option = QStyleOptionViewItem(option)
        name_option.rect = rect.adjusted(0, 0, -used, 0)
        super().paint(painter, name_option, index)
        painter.save()
        painter.setFont(font)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if is_stale(summary, index):
            painter.setOpacity(0.45)
        x = rect.right() - used + _GAP
        palette: QPalette = option.palette
        for badge in badges:
            width = metrics.horizontalAdvance(badge.text) + 2 * _PAD
            pill = QRect(x, rect.top() + 2, width, rect.height() - 4)
            fill = _FILLS[badge.severity] if badge.severity else palette.alternateBase().color()
            fill = fill.darker(110) if not badge.severity else fill
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(pill, 6, 6)
            painter.setPen(QColor("white") if badge.severity else palette.text().color())
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, badge.text)
            x += width + _GAP
        painter.restore()


def fitting(badges: Sequence[Badge], room: int, width: Callable[[Badge], int]) -> list[Badge]:
    """The badges that fit in ``room``, the least important left out first: the layout,
    the labelled share, the image count, then warnings; errors stay longest."""
    kept = list(badges)
    while kept and sum(map(width, kept)) > room:
        plain = [badge for badge in kept if badge.severity is None]
        kept.remove(plain[-1] if plain else kept[-1])  # warnings follow errors
    return kept


def _width(badges: list[Badge], metrics: QFontMetrics) -> int:
    return sum(metrics.horizontalAdvance(badge.text) + 2 * _PAD + _GAP for badge in badges)
