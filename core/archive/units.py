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
import sys
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

from datayard.core.archive.rules import Rule
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
