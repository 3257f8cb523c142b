"""Names and messages from users and from the store, shown by Qt as they are written.

Qt reads the text of a label, a tooltip or a message box as HTML as soon as it
looks like HTML (a known tag such as ``<b>`` before the first line break): a
folder named ``<b>cats`` would show a bold "cats", and ``&lt;`` a bracket.
Labels that show such text are plain-text labels; tooltips and message boxes
get :func:`as_written`; rich text the app builds itself quotes them with
:func:`quoted`.
"""

from __future__ import annotations

import html

from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel


def plain_label(text: str = "") -> QLabel:
    """A label that shows every text it is given as written, never as HTML."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def muted_label(text: str) -> QLabel:
    """An explanation: wrapped, in the palette's placeholder colour.

    Quieter than the values, yet darker than disabled text, which is too
    faint for a paragraph; derived from the palette, so dark themes work too.
    """
    label = plain_label(text)
    label.setWordWrap(True)
    palette = label.palette()
    palette.setColor(
        QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.PlaceholderText)
    )
    label.setPalette(palette)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    return label


def as_written(text: str) -> str:
    """``text`` for a place where Qt guesses the format: a tooltip, a message box.

    Left as it is unless Qt would take it for HTML, since a plain tooltip keeps
    its lines while a rich one is wrapped.
    """
    if QtGui.Qt.mightBeRichText(text):
        return QtGui.Qt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpaceNormal)
    return text


def quoted(value: object) -> str:
    """``value`` inside rich text the app builds: its characters show, its tags do not act."""
    return html.escape(str(value))
