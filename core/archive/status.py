"""Where each rule stands, as the app shows it: its last pass, its next, and whether a
failed pass is one its user has not seen.

Passes run unattended (a timer, a CronJob), so their reports are read from the store,
where every machine's passes leave them; a report's key says which pass is newer than
the one a person saw last (keys sort by the time they were stored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from datayard.core.archive.report import Outcome, PassReport, last_stored
from datayard.core.archive.rules import Rule
from datayard.core.archive.units import TimerState, TimerStatus
from datayard.core.errors import DatayardError
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace

AT_THE_NEXT_TIMER = "at the next timer"
"""What is said of a next run that the schedule does not tell (no date matches it)."""
NOT_SCHEDULED = "not scheduled"
"""A manual rule's next run: none until someone runs it."""
_BY_THE_TIMER = {
    TimerState.NOT_INSTALLED: "timer not installed: it does not run by itself",
    TimerState.DISABLED: "timer not enabled: it does not run by itself",
    TimerState.INSTALLED: "if its timer is enabled",
    TimerState.UNKNOWN: "if its scheduled task is installed",
}
"""What the next run depends on, by the timer's state; none when its timer is on."""


@dataclass(frozen=True)
class RuleStatus:
    rule: Rule
    report: PassReport | None = None
    report_key: str = ""
    """The stored report's key; empty before the rule's first pass."""
    problem: str = ""
    """Why its store could not be read; then nothing is known of its passes."""

    @property
    def failed(self) -> bool:
        return self.report is not None and self.report.failed

    @property
    def verdict(self) -> str:
        """How its last pass ended, in a word or two."""
        if self.problem:
            return "store not read"
        if self.report is None:
            return "no pass yet"
        if self.report.interrupted:
            return "stopped"
        failed = self.report.count(Outcome.FAILED)
        return f"{failed} failed" if failed else "archived"

    def unseen_failure(self, seen_key: str) -> bool:
        """Its last pass failed, and it is newer than the report keyed ``seen_key``."""
        return self.failed and self.report_key > seen_key


def read_status(rule: Rule, bucket: Bucket) -> RuleStatus:
    """The rule's last pass, or the problem of reading it (one line)."""
    try:
        stored = last_stored(bucket, rule.name)
    except DatayardError as error:
        return RuleStatus(rule, problem=str(error))
    if stored is None:
        return RuleStatus(rule)
    return RuleStatus(rule, stored[1], stored[0])


def read_statuses(workspace: Workspace, rules: list[Rule]) -> list[RuleStatus]:
    """Each rule's status, its profile's store connected once for all its rules; a
    profile that cannot be connected is each of its rules' problem."""
    buckets: dict[str, Bucket | str] = {}
    statuses = []
    for rule in rules:
        if rule.profile not in buckets:
            try:
                connection = workspace.connect(rule.profile or None)
                buckets[rule.profile] = Bucket(connection.profile, connection.secret)
            except DatayardError as error:
                buckets[rule.profile] = str(error)
        bucket = buckets[rule.profile]
        if isinstance(bucket, str):
            statuses.append(RuleStatus(rule, problem=bucket))
        else:
            statuses.append(read_status(rule, bucket))
    return statuses


def unseen_failures(statuses: list[RuleStatus], seen: Mapping[str, str]) -> list[RuleStatus]:
    """The rules whose last pass failed after the report ``seen[rule]`` a person saw."""
    return [s for s in statuses if s.unseen_failure(seen.get(s.rule.name, ""))]


def next_run(rule: Rule, now: datetime, timer: TimerStatus | None = None) -> str:
    """When its timer runs it next after ``now`` (local time), as a person reads it;
    with its ``timer``, whether that timer is there to run it (a schedule alone runs
    nothing)."""
    when = _next_time(rule, now)
    if timer is None:
        return when
    if timer.stale:
        return f"{when} — {'a timer is installed' if rule.manual else 'its timer is out of date'}"
    note = "" if rule.manual else _BY_THE_TIMER.get(timer.state, "")
    return f"{when} — {note}" if note else when


def _next_time(rule: Rule, now: datetime) -> str:
    if rule.manual:
        return NOT_SCHEDULED
    found = rule.parsed_schedule.next_after(now)
    if found is None:
        return AT_THE_NEXT_TIMER
    if found.date() == now.date():
        return f"today {found:%H:%M}"
    return f"{found:%a %d %b %H:%M}"
