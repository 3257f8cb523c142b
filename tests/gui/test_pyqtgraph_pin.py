"""Guard for the PySide6 pin: 6.12.0 aborts Python 3.11 under live pyqtgraph updates.

pyqtgraph calls QObject.property() on every setData; PySide6 6.12.0 returns an
unowned None there and the interpreter dies with "none_dealloc" after a few
thousand updates. The dashboard and inspector charts update curves like this.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pytestqt.qtbot import QtBot


def test_thousands_of_curve_updates_keep_the_process_alive(qtbot: QtBot) -> None:
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.show()
    curve = plot.plot()
    x = np.arange(200, dtype=float)
    for step in range(3000):
        curve.setData(x, np.sin(x / 10 + step / 50))
        if step % 100 == 0:
            qtbot.wait(1)
    xs, ys = curve.getData()
    assert len(xs) == 200
    assert np.allclose(ys, np.sin(x / 10 + 2999 / 50))
