"""The definitions that make each platform's scheduler run a rule's pass.

Each runs ``datayard archive run NAME`` and nothing else: no secret, no path but the
executable's; the pass reads the rule, the profile and (from the keyring) its secret
when it runs. A missed run (a machine off or asleep) happens at the next chance:
systemd's ``Persistent=true``, Task Scheduler's ``StartWhenAvailable``, launchd's
own catch-up after sleep. Two runs never overlap: the pass's lock in the store
refuses a second, and Task Scheduler is told to ignore a new run meanwhile.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from xml.etree import ElementTree

from datayard.core.archive.rules import Rule
from datayard.core.archive.schedule import MANUAL
from datayard.core.atomic import write_atomically
from datayard.core.errors import UsageError

MAX_TRIGGERS = 48
"""Task Scheduler's limit of triggers per task."""
_TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def executable() -> Path:
    """The ``datayard`` that is running: the bundle's executable, the one beside this
    Python (a virtual environment's), or the one on the PATH."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable)
    beside = Path(sys.executable).with_name("datayard")
    if beside.is_file():
        return beside.absolute()
    found = shutil.which("datayard")
    if found is None:
        raise UsageError("the datayard command is not found: install Datayard, then try again")
    return Path(found).absolute()


def unit_name(rule: str) -> str:
    """The name of the rule's systemd units (``.service`` and ``.timer``)."""
    return f"datayard-archive-{rule}"


def systemd_units(rule: Rule, program: Path) -> dict[str, str]:
    """The service and timer of a systemd user manager, by file name."""
    name = unit_name(rule.name)
    service = f"""[Unit]
Description=Datayard archive pass of rule {rule.name}

[Service]
Type=oneshot
ExecStart={_systemd_quoted(str(program))} archive run {rule.name}
Nice=10
IOSchedulingClass=idle
"""
    timer = f"""[Unit]
Description=Datayard archive passes of rule {rule.name} ({rule.schedule})

[Timer]
OnCalendar={rule.parsed_schedule.on_calendar()}
Persistent=true
Unit={name}.service

[Install]
WantedBy=timers.target
"""
    return {f"{name}.service": service, f"{name}.timer": timer}


def _systemd_quoted(path: str) -> str:
    """A path as ``ExecStart=`` reads it: ``%`` and ``$`` escaped, quoted when it has
    a space or a quote (``systemd.service(5)``, "Command lines")."""
    escaped = path.replace("%", "%%").replace("$", "$$")
    if any(c in escaped for c in " \t\"'\\"):
        return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def launchd_plist(rule: Rule, program: Path) -> str:
    """A launchd agent (``~/Library/LaunchAgents/io.datayard.archive.NAME.plist``)."""
    moments = rule.parsed_schedule.moments()
    document = {
        "Label": f"io.datayard.archive.{rule.name}",
        "ProgramArguments": [str(program), "archive", "run", rule.name],
        "StartCalendarInterval": moments if len(moments) > 1 else moments[0],
        "ProcessType": "Background",
        "LowPriorityIO": True,
    }
    return plistlib.dumps(document).decode("utf-8")


def windows_task(rule: Rule, program: Path) -> str:
    """A Task Scheduler task (``schtasks /Create /TN NAME /XML FILE``)."""
    ElementTree.register_namespace("", _TASK_NS)
    task = ElementTree.Element(f"{{{_TASK_NS}}}Task", version="1.2")
    info = _sub(task, "RegistrationInfo")
    _sub(info, "Description", f"Datayard archive passes of rule {rule.name} ({rule.schedule})")
    triggers = _sub(task, "Triggers")
    for trigger in _triggers(rule):
        triggers.append(trigger)
    settings = _sub(task, "Settings")
    _sub(settings, "MultipleInstancesPolicy", "IgnoreNew")
    _sub(settings, "StartWhenAvailable", "true")
    _sub(settings, "RunOnlyIfNetworkAvailable", "true")
    _sub(settings, "ExecutionTimeLimit", "PT0S")
    _sub(settings, "Priority", "7")
    actions = _sub(task, "Actions", Context="Author")
    command = _sub(actions, "Exec")
    _sub(command, "Command", str(program))
    _sub(command, "Arguments", f"archive run {rule.name}")
    ElementTree.indent(task)
    body = ElementTree.tostring(task, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-16"?>\n{body}\n'


def _triggers(rule: Rule) -> list[ElementTree.Element]:
    """One calendar trigger per time of day; every hour is a repetition of each minute."""
    schedule = rule.parsed_schedule
    if schedule.minutes is None:
        raise UsageError(
            f"schedule {rule.schedule!r}: Task Scheduler cannot run a task every minute; "
            "name the minutes"
        )
    hours = schedule.hours
    times = [(h, m) for h in (hours or (0,)) for m in schedule.minutes]
    if len(times) > MAX_TRIGGERS:
        raise UsageError(
            f"schedule {rule.schedule!r} makes {len(times)} Task Scheduler triggers; "
            f"it takes at most {MAX_TRIGGERS}"
        )
    made = []
    for hour, minute in times:
        trigger = ElementTree.Element(f"{{{_TASK_NS}}}CalendarTrigger")
        start = datetime(2026, 1, 1, hour, minute)
        if hours is None:
            repetition = _sub(trigger, "Repetition")
            _sub(repetition, "Interval", "PT1H")
            _sub(repetition, "Duration", "P1D")
        _sub(trigger, "StartBoundary", start.isoformat())
        trigger.append(_calendar(rule))
        made.append(trigger)
    return made


def _calendar(rule: Rule) -> ElementTree.Element:
    schedule = rule.parsed_schedule
    if schedule.days is None and schedule.months is None and schedule.weekdays is None:
        by_day = ElementTree.Element(f"{{{_TASK_NS}}}ScheduleByDay")
        _sub(by_day, "DaysInterval", "1")
        return by_day
    if schedule.days is None and schedule.months is None:
        by_week = ElementTree.Element(f"{{{_TASK_NS}}}ScheduleByWeek")
        _sub(by_week, "WeeksInterval", "1")
        days = _sub(by_week, "DaysOfWeek")
        for day in schedule.weekdays or ():
            _sub(days, _WEEKDAYS[day])
        return by_week
    if schedule.weekdays is not None:
        raise UsageError(
            f"schedule {rule.schedule!r}: Task Scheduler cannot restrict both the month "
            "and the day of the week"
        )
    by_month = ElementTree.Element(f"{{{_TASK_NS}}}ScheduleByMonth")
    days = _sub(by_month, "DaysOfMonth")
    for day in schedule.days or range(1, 32):
        _sub(days, "Day", str(day))
    months = _sub(by_month, "Months")
    for month in schedule.months or range(1, 13):
        _sub(months, _MONTHS[month - 1])
    return by_month


def _sub(
    parent: ElementTree.Element, tag: str, text: str | None = None, **attributes: str
) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, f"{{{_TASK_NS}}}{tag}", attributes)
    element.text = text
    return element


def systemd_user_folder() -> Path:
    """Where a systemd user manager reads the units its user wrote (``systemd.unit(5)``)."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def install_systemd(rule: Rule, program: Path, folder: Path) -> list[Path]:
    """Write the rule's service and timer into ``folder``, each atomically."""
    written = []
    for name, text in systemd_units(rule, program).items():
        write_atomically(folder / name, text.encode("utf-8"), mode=0o644)
        written.append(folder / name)
    return written


SYSTEMCTL_TIMEOUT_S = 2.0
"""How long ``systemctl --user`` may take to answer: a user manager that hangs must not
hold the app's list or ``archive list``."""


class TimerState(StrEnum):
    """How far a rule's systemd user timer is from running it by itself."""

    UNKNOWN = "not detectable"
    """Not Linux: what Task Scheduler or launchd hold is not read."""
    NOT_INSTALLED = "not installed"
    """No timer file: the rule runs only by ``archive run`` or Run now."""
    INSTALLED = "installed"
    """The files are written; no ``systemctl --user`` said whether it is enabled."""
    DISABLED = "installed, not enabled"
    """The files are written, the timer is not enabled: it does not run."""
    ENABLED = "enabled"
    """Enabled, not active (the user manager is not running it now, or did not say)."""
    ACTIVE = "active"
    """Enabled and active: it runs the rule on its schedule."""


@dataclass(frozen=True)
class TimerStatus:
    """Whether the rule's timer is installed and, as far as ``systemctl --user`` says,
    enabled: a rule's schedule alone runs nothing, and the app and ``archive list``
    must not let a person believe that an un-installed rule runs by itself."""

    state: TimerState
    stale: str = ""
    """Why the installed units do not run the rule as it is now (its schedule changed
    since ``archive install``); empty when they do, or none is installed."""
    answer: str = ""
    """What ``systemctl --user is-enabled`` said, when it is not ``enabled``/``disabled``
    (``masked``, say)."""

    @property
    def installed(self) -> bool:
        return self.state not in (TimerState.UNKNOWN, TimerState.NOT_INSTALLED)

    def describe(self) -> str:
        """One line: the state, what ``systemctl`` said beyond it, and what is stale."""
        text = str(self.state)
        if self.state is TimerState.INSTALLED:
            text += " (systemctl --user did not answer: enabled or not is unknown)"
        if self.answer:
            text += f" ({self.answer})"
        if self.stale:
            text += f"; {self.stale}"
        return text


def timer_files(name: str, folder: Path) -> tuple[Path, Path]:
    """The rule's ``.service`` and ``.timer`` as :func:`install_systemd` writes them."""
    unit = unit_name(name)
    return folder / f"{unit}.service", folder / f"{unit}.timer"


def systemctl_answer(name: str) -> tuple[str, str] | None:
    """What ``systemctl --user`` says of the rule's timer: ``is-enabled``'s word and,
    when enabled, ``is-active``'s (empty when it did not answer); ``None`` when there
    is no ``systemctl`` or it answered nothing (no user manager, a timeout).

    ``is-enabled`` reads the unit files even without a user bus (a container, CI);
    ``is-active`` needs the running manager."""
    program = shutil.which("systemctl")
    if program is None:
        return None
    timer = f"{unit_name(name)}.timer"
    enabled = _ask(program, "is-enabled", timer)
    if not enabled:
        return None
    return enabled, _ask(program, "is-active", timer) if enabled.startswith("enabled") else ""


def _ask(program: str, verb: str, unit: str) -> str:
    """The first word ``systemctl --user VERB UNIT`` printed; empty when it failed to."""
    try:
        done = subprocess.run(
            [program, "--user", verb, unit],
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    words = done.stdout.split()
    return words[0] if words else ""


def timer_status(
    rule: Rule, folder: Path | None = None, answer: tuple[str, str] | None = None
) -> TimerStatus:
    """The rule's timer from its files in ``folder`` (:func:`systemd_user_folder`)
    and ``answer`` (:func:`systemctl_answer`'s, ``None``: not asked or no answer).

    Only the schedule is in the units (they run ``archive run NAME``, which reads the
    rule when it runs), so an edit of anything else needs no new install."""
    if folder is None:
        if not sys.platform.startswith("linux"):
            return TimerStatus(TimerState.UNKNOWN)
        folder = systemd_user_folder()
    service, timer = timer_files(rule.name, folder)
    try:
        text = timer.read_text(encoding="utf-8")
    except FileNotFoundError:
        return TimerStatus(TimerState.NOT_INSTALLED)
    except (OSError, UnicodeError) as error:
        return TimerStatus(TimerState.INSTALLED, stale=f"{timer} cannot be read: {error}")
    return TimerStatus(_state(answer), _stale(rule, text, service), _odd(answer))


def read_timer_status(rule: Rule, folder: Path | None = None) -> TimerStatus:
    """:func:`timer_status`, asking ``systemctl --user`` when the files are there (it
    may take up to :data:`SYSTEMCTL_TIMEOUT_S` twice: not on a GUI thread)."""
    found = timer_status(rule, folder)
    if not found.installed:
        return found
    return timer_status(rule, folder, systemctl_answer(rule.name))


def _state(answer: tuple[str, str] | None) -> TimerState:
    if answer is None:
        return TimerState.INSTALLED
    enabled, active = answer
    if not enabled.startswith("enabled"):
        return TimerState.DISABLED
    return TimerState.ACTIVE if active == "active" else TimerState.ENABLED


def _odd(answer: tuple[str, str] | None) -> str:
    """``is-enabled``'s word when the state does not say it already."""
    if answer is None or answer[0] in ("enabled", "disabled"):
        return ""
    return answer[0]


def _stale(rule: Rule, timer: str, service: Path) -> str:
    """Why the installed units do not run ``rule`` as it is now; empty when they do."""
    name = rule.name
    if rule.manual:
        return (
            f"the rule has no schedule ({MANUAL}) but a timer is installed for it: "
            f"systemctl --user disable --now {unit_name(name)}.timer, then delete its "
            "unit files"
        )
    if not service.is_file():
        return f"its service is missing: datayard archive install {name}"
    written = [line for line in timer.splitlines() if line.startswith("OnCalendar=")]
    if written != [f"OnCalendar={rule.parsed_schedule.on_calendar()}"]:
        return f"it runs an older schedule: datayard archive install {name}"
    return ""
