"""The Archive tab against the real store: rules with their last pass, Run now, the
refusal while another pass runs, a failed unattended pass told once, a pass killed
outright shown and told until the next pass, adding, editing and removing rules, and
whether their timers are installed."""

from __future__ import annotations

import logging
import socket
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from datayard.core.archive.report import (
    Outcome,
    PassReport,
    SetReport,
    last_stored,
    store_report,
)
from datayard.core.archive.rules import Rule, RuleBook
from datayard.core.archive.units import install_systemd, systemd_user_folder
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import archive_lock_scope, lock_prefix
from datayard.core.store.locks import Holder, Mode, acquire, list_locks
from datayard.core.store.workspace import Workspace
from datayard.gui.archive_page import COLUMNS, SEEN_KEY, ArchivePage
from datayard.gui.main_window import MainWindow
from datayard.gui.notice import WARN_COLOR
from tests.e2e.test_archive import _finish, a_pass, write_set
from tests.fixtures.store_proxy import StoreProxy, blob_request
from tests.fixtures.waits import LONG_MS

pytestmark = pytest.mark.usefixtures("secret_service")


def ui_state(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)


def added(share: Path, name: str = "drive") -> Rule:
    rule = Rule(name=name, root=str(share))
    RuleBook(Workspace.default().dirs.config).add(rule)
    return rule


def cells(page: ArchivePage, row: int = 0) -> dict[str, str]:
    item = page.rules.topLevelItem(row)
    assert item is not None
    return {column: item.text(index) for index, column in enumerate(COLUMNS)}


def details(page: ArchivePage) -> list[tuple[str, str]]:
    rows = [page.details.topLevelItem(i) for i in range(page.details.topLevelItemCount())]
    return [(row.text(0), row.text(2)) for row in rows if row is not None]


def shown_page(qtbot: QtBot, tmp_path: Path) -> ArchivePage:
    page = ArchivePage(Workspace.default(), state=ui_state(tmp_path))
    qtbot.addWidget(page)
    page.show()
    with qtbot.waitSignal(page.loaded, timeout=LONG_MS):
        page.refresh()
    return page


def test_the_page_shows_the_last_pass_and_run_now_publishes_and_updates_it(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path
) -> None:
    share = tmp_path / "share"
    write_set(share / "ada" / "cats", 200)
    rule = added(share)
    a_pass(rule, bucket, Workspace.default().dirs.database)  # as its timer ran it

    page = shown_page(qtbot, tmp_path)
    row = cells(page)
    assert (row["Rule"], row["Root"], row["Schedule"]) == ("drive", str(share), "daily")
    assert row["Next run"].endswith("02:00 — timer not installed: it does not run by itself")
    assert row["Timer"] == "not installed"
    assert (row["Outcome"], row["Pushed"], row["Skipped"], row["Failed"]) == (
        "archived",
        "1",
        "0",
        "0",
    )
    assert details(page) == [("ada/drive", "pushed")]

    write_set(share / "bob" / "dogs", 100)
    with qtbot.waitSignal(page.loaded, timeout=LONG_MS):  # the pass, then its report read
        page.run_button.click()
        assert not page.run_button.isEnabled() and page.cancel_button.isVisible()

    row = cells(page)
    assert (row["Pushed"], row["Skipped"], row["Failed"]) == ("1", "1", "0")
    assert details(page) == [("ada/drive", "unchanged"), ("bob/drive", "pushed")]
    assert "1 pushed, 1 unchanged, 0 failed" in page.result.text()
    assert page.run_button.isEnabled() and not page.cancel_button.isVisible()


def test_run_now_while_another_pass_holds_the_lock_is_refused_in_a_line(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_set(tmp_path / "share" / "ada" / "cats", 200)
    added(tmp_path / "share", "busy")
    page = shown_page(qtbot, tmp_path)
    taking = acquire(
        bucket, Mode.EXCLUSIVE, "archive pass of rule busy", scope=archive_lock_scope("busy")
    )
    with _finish(taking), qtbot.waitSignal(page.loaded, timeout=LONG_MS):  # refused, read again
        page.run_button.click()

    assert "another pass of rule busy is running on" in page.result.text()
    assert "this one did nothing" in page.result.text()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    row = cells(page)  # read while the other pass held its lock
    assert row["Outcome"] == "running" and row["Last pass"].endswith(f" on {socket.gethostname()}")
    assert page.run_button.isEnabled()
    assert page.details_title.text().startswith("Rule busy: A pass is running: started on ")


def test_a_pass_cancelled_from_the_page_stops_and_its_report_says_so(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path, store_proxy: StoreProxy
) -> None:
    for person, shade in (("ada", 200), ("bob", 100)):
        write_set(tmp_path / "share" / person / "cats", shade)
    added(tmp_path / "share")
    page = shown_page(qtbot, tmp_path)
    held = store_proxy.hold(blob_request("PUT"))
    page.run_button.click()
    qtbot.waitUntil(held.holding.is_set, timeout=LONG_MS)

    with qtbot.waitSignal(page.loaded, timeout=LONG_MS):  # stopped, then its report read
        page.cancel_button.click()
        held.release()

    assert "Stopped the pass of rule drive: the next pass archives the rest" in page.result.text()
    assert cells(page)["Outcome"] == "stopped"
    assert "bob/drive" not in [dataset for dataset, _ in details(page)]


def failed_pass(rule: str) -> PassReport:
    broken = SetReport("eve", "eve/drive", Outcome.FAILED.value, reason="a file cannot be read")
    done = SetReport("ada", "ada/drive", Outcome.UNCHANGED.value, version="v1", files=7)
    return PassReport(rule, "nas-1", "2026-12-07T02:00:03+00:00", 2.5, (done, broken))


def started_window(qtbot: QtBot, state: QSettings) -> MainWindow:
    window = MainWindow(Workspace.default(), state=state)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.archive.loaded, timeout=LONG_MS):
        window.connect_store()
    return window


def test_a_failed_unattended_pass_is_told_at_the_next_start_until_seen(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path
) -> None:
    (tmp_path / "share").mkdir()
    added(tmp_path / "share")
    stored = store_report(bucket, failed_pass("drive"))
    state = ui_state(tmp_path)

    window = started_window(qtbot, state)
    tabs = window.tabs
    assert tabs.currentWidget() is not window.archive
    assert tabs.tabText(tabs.indexOf(window.archive)) == "Archive (1 failed)"
    assert "rule drive, 1 failed" in window.archive.attention.text()
    assert state.value(SEEN_KEY + "drive") is None

    with qtbot.waitSignal(window.archive.loaded, timeout=LONG_MS):
        window.show_archive()
    assert tabs.tabText(tabs.indexOf(window.archive)) == "Archive"
    assert state.value(SEEN_KEY + "drive") == stored
    assert "rule drive, 1 failed" in window.archive.attention.text()  # for this session
    assert details(window.archive) == [("ada/drive", "unchanged"), ("eve/drive", "failed")]
    tabs.setCurrentIndex(0)
    window.close()

    again = started_window(qtbot, state)
    assert again.tabs.tabText(again.tabs.indexOf(again.archive)) == "Archive"
    assert again.archive.attention.text() == ""
    again.close()


def test_add_rule_says_each_refusal_under_its_field_and_adds_a_valid_rule(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path
) -> None:
    (tmp_path / "share").mkdir()
    page = shown_page(qtbot, tmp_path)
    dialog = page.add_rule()
    assert dialog is not None
    qtbot.addWidget(dialog)

    dialog.name.setText("bad name")
    dialog.root.setText(str(tmp_path / "missing"))
    dialog.template.setText("{owner}/{nope}")
    assert "rule name 'bad name' is not valid" in dialog.messages["name"].text()
    assert "does not exist" in dialog.messages["root"].text()
    assert "{nope} is not a field" in dialog.messages["template"].text()
    assert not dialog.save_button.isEnabled()
    assert not dialog.depth_box.isEnabled() and not dialog.cron.isEnabled()

    dialog.name.setText("drive")
    dialog.root.setText(str(tmp_path / "share"))
    dialog.per.setCurrentText("folder")
    dialog.depth_box.setValue(2)
    dialog.template.setText("{folder}")
    dialog.exclude.setPlainText("tmp*, old\n*/cache")
    dialog.schedule.setCurrentText("cron")
    dialog.cron.setText("30 1 * * mon-fri")
    assert all(message.text() == "" for message in dialog.messages.values())
    with qtbot.waitSignal(page.loaded, timeout=LONG_MS):
        dialog.save_button.click()

    rule = RuleBook(Workspace.default().dirs.config).get("drive")
    assert (rule.root, rule.per.value, rule.depth, rule.template) == (
        str(tmp_path / "share"), "folder", 2, "{folder}",
    )  # fmt: skip
    assert (rule.exclude, rule.schedule) == (("tmp*", "old", "*/cache"), "30 1 * * mon-fri")
    assert cells(page)["Rule"] == "drive" and page.current_name() == "drive"


def test_remove_asks_and_removes_the_selected_rule(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "share").mkdir()
    added(tmp_path / "share", "keep")
    added(tmp_path / "share", "old")
    page = shown_page(qtbot, tmp_path)
    page._select("old")
    asked: list[str] = []

    def answer(reply: QMessageBox.StandardButton) -> None:
        monkeypatch.setattr(
            QMessageBox, "question", lambda _parent, _title, text: asked.append(text) or reply
        )

    answer(QMessageBox.StandardButton.No)
    page.remove_button.click()
    assert [r.name for r in RuleBook(Workspace.default().dirs.config).all()] == ["keep", "old"]

    answer(QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(page.loaded, timeout=LONG_MS):
        page.remove_button.click()
    assert [r.name for r in RuleBook(Workspace.default().dirs.config).all()] == ["keep"]
    assert "Remove archive rule old?" in asked[0] and len(asked) == 2
    assert page.rules.topLevelItemCount() == 1 and cells(page)["Rule"] == "keep"


def test_edit_writes_the_rule_over_itself_and_says_its_timer_is_out_of_date(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path
) -> None:
    (tmp_path / "share").mkdir()
    (tmp_path / "other").mkdir()
    drive = added(tmp_path / "share")
    added(tmp_path / "share", "keep")
    install_systemd(drive, Path("/opt/datayard/datayard"), systemd_user_folder())
    page = shown_page(qtbot, tmp_path)
    assert cells(page)["Timer"].startswith("installed")
    assert "not installed" not in cells(page)["Next run"]
    page._select("drive")
    dialog = page.edit_rule()
    assert dialog is not None
    qtbot.addWidget(dialog)

    assert dialog.windowTitle() == "Edit rule drive" and dialog.save_button.text() == "Save"
    assert (dialog.name.text(), dialog.root.text()) == ("drive", str(tmp_path / "share"))
    assert dialog.schedule.currentText() == "daily" and dialog.per.currentText() == "person"
    assert all(message.text() == "" for message in dialog.messages.values())  # not "taken"
    assert dialog.name.isReadOnly() and "reports" in dialog.name.toolTip()
    dialog.name.setFocus()
    qtbot.keyClicks(dialog.name, "keep")
    assert dialog.name.text() == "drive"

    dialog.root.setText(str(tmp_path / "other"))
    dialog.exclude.setPlainText("tmp*")
    dialog.schedule.setCurrentText("cron")
    dialog.cron.setText("30 1 * * mon-fri")
    with qtbot.waitSignal(page.loaded, timeout=LONG_MS):
        dialog.save_button.click()

    book = RuleBook(Workspace.default().dirs.config)
    assert [rule.name for rule in book.all()] == ["drive", "keep"]
    rule = book.get("drive")
    assert (rule.root, rule.exclude, rule.schedule) == (
        str(tmp_path / "other"), ("tmp*",), "30 1 * * mon-fri",
    )  # fmt: skip
    assert book.get("keep").schedule == "daily"
    assert page.current_name() == "drive"
    row = cells(page)
    assert row["Schedule"] == "30 1 * * mon-fri"
    assert row["Next run"].endswith("01:30 — its timer is out of date")
    assert "it runs an older schedule: datayard archive install drive" in row["Timer"]
    assert "datayard archive install drive" in page.result.text()


def test_edit_by_double_click_cancelled_changes_nothing(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path
) -> None:
    (tmp_path / "share").mkdir()
    added(tmp_path / "share", "keep")
    written = RuleBook(Workspace.default().dirs.config).path.read_bytes()
    page = shown_page(qtbot, tmp_path)
    item = page.rules.topLevelItem(0)
    assert item is not None
    spot = page.rules.visualItemRect(item).center()
    qtbot.mouseClick(page.rules.viewport(), Qt.MouseButton.LeftButton, pos=spot)
    qtbot.mouseDClick(page.rules.viewport(), Qt.MouseButton.LeftButton, pos=spot)
    dialog = page.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "Edit rule keep"

    dialog.schedule.setCurrentText("hourly")
    dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()
    assert not dialog.isVisible()
    assert RuleBook(Workspace.default().dirs.config).path.read_bytes() == written
    assert cells(page)["Schedule"] == "daily"


def test_edit_of_a_rule_removed_meanwhile_is_refused_in_the_dialog(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path
) -> None:
    (tmp_path / "share").mkdir()
    added(tmp_path / "share", "gone")
    page = shown_page(qtbot, tmp_path)
    dialog = page.edit_rule()
    assert dialog is not None
    qtbot.addWidget(dialog)
    RuleBook(Workspace.default().dirs.config).remove("gone")  # by another app, meanwhile

    dialog.save_button.click()
    assert "there is no archive rule 'gone'" in dialog.problem.text()
    assert RuleBook(Workspace.default().dirs.config).all() == []


def killed_pass_lock(bucket: Bucket, rule: str) -> str:
    """The lock that a pass of ``rule`` killed outright on this machine left in the store:
    its process is gone."""
    dead = replace(Holder.this_process(f"archive pass of rule {rule}"), pid=999_999_999)
    key = f"{lock_prefix(archive_lock_scope(rule))}exclusive-{uuid.uuid4().hex}.json"
    bucket.put_bytes(key, dead.to_json())
    return key


def test_a_pass_killed_outright_is_shown_and_told_until_the_next_pass(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path
) -> None:
    """It left no report, only its lock: the rule's row and details say it ended without
    one, and it counts as a failed pass until seen; the next pass takes it over."""
    share = tmp_path / "share"
    write_set(share / "ada" / "cats", 200)
    rule = added(share)
    a_pass(rule, bucket, Workspace.default().dirs.database)  # its report, then the killed one
    write_set(share / "bob" / "cats", 100)
    killed = killed_pass_lock(bucket, "drive")
    state = ui_state(tmp_path)

    window = started_window(qtbot, state)
    tabs, page = window.tabs, window.archive
    assert tabs.tabText(tabs.indexOf(page)) == "Archive (1 failed)"
    assert "rule drive, ended without a report" in page.attention.text()
    row = cells(page)
    assert row["Outcome"] == "ended without a report"
    assert row["Last pass"].endswith(f" on {socket.gethostname()}")
    assert (row["Pushed"], row["Skipped"], row["Failed"]) == ("", "", "")  # not its counts
    item = page.rules.topLevelItem(0)
    assert item is not None
    outcome = COLUMNS.index("Outcome")
    assert item.foreground(outcome).color() == QColor(WARN_COLOR)
    said = "(process 999999999) did not finish: its process ended without a report (killed?)"
    assert said in item.toolTip(outcome)
    assert said in item.toolTip(COLUMNS.index("Last pass"))
    assert said in page.details_title.text()
    assert "The pass before: Pass of rule drive" in page.details_title.text()
    assert details(page) == [("ada/drive", "pushed")]

    with qtbot.waitSignal(page.loaded, timeout=LONG_MS):
        window.show_archive()
    assert tabs.tabText(tabs.indexOf(page)) == "Archive"
    stored = last_stored(bucket, "drive")
    assert stored is not None and state.value(SEEN_KEY + "drive") == f"{stored[0]}|{killed}"
    tabs.setCurrentIndex(0)
    window.close()

    again = started_window(qtbot, state)  # seen: not told again
    assert again.tabs.tabText(again.tabs.indexOf(again.archive)) == "Archive"
    assert again.archive.attention.text() == ""
    assert cells(again.archive)["Outcome"] == "ended without a report"
    with qtbot.waitSignal(again.archive.loaded, timeout=LONG_MS):  # the pass, its report
        again.archive.run_button.click()
    row = cells(again.archive)
    assert (row["Outcome"], row["Pushed"], row["Skipped"]) == ("archived", "1", "1")
    assert "did not finish; this one took over" in again.archive.details_title.text()
    assert list_locks(bucket, archive_lock_scope("drive")) == []
    again.close()


def test_an_unseen_killed_pass_is_no_longer_told_once_the_next_pass_took_it_over(
    qtbot: QtBot, bucket: Bucket, tmp_path: Path
) -> None:
    share = tmp_path / "share"
    write_set(share / "ada" / "cats", 200)
    rule = added(share)
    killed_pass_lock(bucket, "drive")
    state = ui_state(tmp_path)
    window = started_window(qtbot, state)
    assert window.tabs.tabText(window.tabs.indexOf(window.archive)) == "Archive (1 failed)"
    assert window.archive.details_title.text().startswith("Rule drive: The pass started on ")
    window.close()

    a_pass(rule, bucket, Workspace.default().dirs.database)  # as its timer ran it
    again = started_window(qtbot, state)
    assert again.tabs.tabText(again.tabs.indexOf(again.archive)) == "Archive"
    assert again.archive.attention.text() == ""
    assert cells(again.archive)["Outcome"] == "archived"
    again.close()
