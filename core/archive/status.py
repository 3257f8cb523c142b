"""Where each rule stands, as the app shows it: its last pass, its next, and whether a
failed pass is one its user has not seen.

Passes run unattended (a timer, a CronJob), so their reports are read from the store,
where every machine's passes leave them; a report's key says which pass is newer than
the one a person saw last (keys sort by the time they were stored).

A pass that is running, or that ended without its report (killed, its machine went
down), is known by its lock alone (:func:`~datayard.core.archive.run.passes_in_store`);
it is read with the report, one listing of the rule's lock scope. Such a pass began
after the last report was stored (the next pass removes the locks of those it takes
over), so it is the rule's last pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from datayard.core.archive.report import Outcome, PassReport, last_stored
from datayard.core.archive.rules import Rule
from datayard.core.archive.run import PassInStore, passes_in_store
from datayard.core.archive.units import TimerState, TimerStatus
from datayard.core.errors import DatayardError
from datayard.core.store.bucket import Bucket
from datayard.core.store.locks import Liveness
from datayard.core.store.workspace import Workspace

AT_THE_NEXT_TIMER = "at the next timer"
"""What is said of a next run that the schedule does not tell (no date matches it)."""
NOT_SCHEDULED = "not scheduled"
"""A manual rule's next run: none until someone runs it."""
ENDED_WITHOUT_REPORT = "ended without a report"
"""The verdict of a rule whose last pass was killed: it stored no report."""
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
    unreported: tuple[PassInStore, ...] = ()
    """Its passes without a report, oldest first: the one running, those that ended
    without one; all newer than ``report`` (see the module doc)."""

    @property
    def failed(self) -> bool:
        """Its last report says a dataset failed or the pass stopped early."""
        return self.report is not None and self.report.failed

    @property
    def ended(self) -> tuple[PassInStore, ...]:
        """Its passes that ended without a report (killed, their machine went down)."""
        return tuple(p for p in self.unreported if p.state is not Liveness.LIVE)

    @property
    def latest(self) -> PassInStore | None:
        """Its newest pass without a report: its last pass, ``None`` when its report is."""
        return self.unreported[-1] if self.unreported else None

    @property
    def verdict(self) -> str:
        """How its last pass ended, in a word or two."""
        if self.problem:
            return "store not read"
        if self.latest is not None:
            return "running" if self.latest.state is Liveness.LIVE else ENDED_WITHOUT_REPORT
        return self._reported()

    @property
    def failure(self) -> str:
        """What failed, in a word or two, for a rule with a failure: a pass that ended
        without a report, else its last report's verdict (a pass may run meanwhile)."""
        return ENDED_WITHOUT_REPORT if self.ended else self._reported()

    def _reported(self) -> str:
        if self.report is None:
            return "no pass yet"
        if self.report.interrupted:
            return "stopped"
        failed = self.report.count(Outcome.FAILED)
        return f"{failed} failed" if failed else "archived"

    @property
    def mark(self) -> str:
        """What a person has seen of its passes, as one line for the app's state: its
        report's key (empty before its first report), then the lock key of each pass that
        ended without a report, each after a "|" (no key has one); empty before its first
        pass. A mark written before passes without a report were shown is a report key."""
        return "".join([self.report_key, *(f"|{p.key}" for p in self.ended)])

    def unseen_failure(self, seen: str) -> bool:
        """A failure its user has not seen, ``seen`` being the :attr:`mark` they saw.

        Its last report failed and is newer than the one they saw; or a pass ended
        without a report and they have not seen it so. A pass killed outright is
        treated as a stopped one (:attr:`PassReport.failed`), which fails: its datasets
        after the kill are not archived until the next pass. A pass that is running
        has not failed (yet); once its lock shows it ended, it is new to its user.
        """
        seen_report, *seen_ended = seen.split("|")
        if self.failed and self.report_key > seen_report:
            return True
        return any(p.key not in seen_ended for p in self.ended)


def read_status(rule: Rule, bucket: Bucket) -> RuleStatus:
    """The rule's last pass, or the problem of reading it (one line): its last report and
    its passes without one (one listing of its lock scope; when it holds a lock, a read of
    each and of the store's clock)."""
    try:
        stored = last_stored(bucket, rule.name)
        unreported = tuple(passes_in_store(bucket, rule.name))
    except DatayardError as error:
        return RuleStatus(rule, problem=str(error))
    if stored is None:
        return RuleStatus(rule, unreported=unreported)
    return RuleStatus(rule, stored[1], stored[0], unreported=unreported)


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
    """The rules with a failure newer than what a person saw of them, ``seen[rule]``
    (their :attr:`RuleStatus.mark`): see :meth:`RuleStatus.unseen_failure`."""
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
