"""Whether a rule's systemd user timer is there to run it, read from the unit files that
``archive install`` writes (and from ``systemctl --user`` where one answers), and a rule
written over itself."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest

from datayard.core.archive.rules import Rule, RuleBook
from datayard.core.archive.status import next_run
from datayard.core.archive.units import (
    TimerState,
    TimerStatus,
    install_systemd,
    read_timer_status,
    systemd_user_folder,
    timer_files,
    timer_status,
)
from datayard.core.errors import UsageError

NOW = datetime(2026, 12, 7, 19, 55, 30)  # a Monday
PROGRAM = Path("/opt/datayard/datayard")


def test_a_timer_is_not_installed_until_its_units_are_written(private_dirs: Path) -> None:
    folder = systemd_user_folder()
    assert folder == private_dirs / "config" / "systemd" / "user"
    rule = Rule(name="drive", root="/mnt/cv")
    assert read_timer_status(rule) == TimerStatus(TimerState.NOT_INSTALLED)
    assert next_run(rule, NOW, read_timer_status(rule)) == (
        "Tue 08 Dec 02:00 — timer not installed: it does not run by itself"
    )

    install_systemd(rule, PROGRAM, folder)
    found = read_timer_status(rule)  # this machine's systemctl, if any, reads the files
    assert found.installed and found.stale == ""
    assert found.state in (TimerState.INSTALLED, TimerState.DISABLED), found
    assert "not installed" not in next_run(rule, NOW, found)


def test_a_new_schedule_leaves_the_installed_timer_out_of_date(tmp_path: Path) -> None:
    rule = Rule(name="drive", root="/mnt/cv")
    install_systemd(rule, PROGRAM, tmp_path)
    assert timer_status(rule, tmp_path).stale == ""
    root_moved = Rule(name="drive", root="/mnt/other", exclude=("tmp*",))
    assert timer_status(root_moved, tmp_path).stale == ""  # the units only run the rule

    hourly = Rule(name="drive", root="/mnt/cv", schedule="hourly")
    assert timer_status(hourly, tmp_path).stale == (
        "it runs an older schedule: datayard archive install drive"
    )
    assert next_run(hourly, NOW, timer_status(hourly, tmp_path)) == (
        "today 20:00 — its timer is out of date"
    )
    manual = Rule(name="drive", root="/mnt/cv", schedule="none")
    assert "systemctl --user disable --now datayard-archive-drive.timer" in (
        timer_status(manual, tmp_path).stale
    )
    install_systemd(hourly, PROGRAM, tmp_path)
    assert timer_status(hourly, tmp_path).stale == ""
    timer_files("drive", tmp_path)[0].unlink()
    assert "its service is missing" in timer_status(hourly, tmp_path).stale


@pytest.mark.parametrize(
    ("answer", "state", "words"),
    [
        (None, TimerState.INSTALLED, "installed (systemctl --user did not answer"),
        (("disabled", ""), TimerState.DISABLED, "installed, not enabled"),
        (("masked", ""), TimerState.DISABLED, "installed, not enabled (masked)"),
        (("enabled", "inactive"), TimerState.ENABLED, "enabled"),
        (("enabled", ""), TimerState.ENABLED, "enabled"),
        (("enabled", "active"), TimerState.ACTIVE, "active"),
    ],
)
def test_what_systemctl_says_is_the_state_of_an_installed_timer(
    tmp_path: Path, answer: tuple[str, str] | None, state: TimerState, words: str
) -> None:
    rule = Rule(name="drive", root="/mnt/cv")
    assert timer_status(rule, tmp_path, answer).state is TimerState.NOT_INSTALLED
    install_systemd(rule, PROGRAM, tmp_path)
    found = timer_status(rule, tmp_path, answer)
    assert found.state is state and found.describe().startswith(words)
    runs = state in (TimerState.ENABLED, TimerState.ACTIVE)
    assert (next_run(rule, NOW, found) == "Tue 08 Dec 02:00") == runs


def test_replace_writes_a_rule_over_itself_only(tmp_path: Path) -> None:
    book = RuleBook(tmp_path)
    book.add(Rule(name="drive", root="/mnt/cv"))
    book.add(Rule(name="keep", root="/mnt/keep"))
    book.replace(Rule(name="drive", root="/mnt/cv", schedule="hourly", exclude=("tmp*",)))
    assert book.all() == [
        Rule(name="drive", root="/mnt/cv", schedule="hourly", exclude=("tmp*",)),
        Rule(name="keep", root="/mnt/keep"),
    ]
    with pytest.raises(UsageError, match="there is no archive rule 'other'"):
        book.replace(Rule(name="other", root="/mnt/cv"))
    with pytest.raises(UsageError, match="--depth is for --per folder only"):
        book.replace(Rule(name="drive", root="/mnt/cv", depth=2))
    assert [rule.name for rule in book.all()] == ["drive", "keep"]


def test_elsewhere_than_linux_the_timer_is_not_detectable(
    private_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = Rule(name="drive", root="C:/share")
    install_systemd(rule, PROGRAM, systemd_user_folder())
    monkeypatch.setattr(sys, "platform", "win32")
    found = read_timer_status(rule)
    assert found == TimerStatus(TimerState.UNKNOWN) and not found.installed
    assert next_run(rule, NOW, found) == "Tue 08 Dec 02:00 — if its scheduled task is installed"
