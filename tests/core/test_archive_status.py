"""What the app computes of a rule without a store: its next run, a pod's copy of it, and
which failed passes its user has not seen, passes killed outright included."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from datayard.core.archive.report import Outcome, PassReport, SetReport
from datayard.core.archive.rules import Per, Rule, rule_from_json
from datayard.core.archive.run import PassInStore
from datayard.core.archive.schedule import Schedule
from datayard.core.archive.status import AT_THE_NEXT_TIMER, RuleStatus, next_run, unseen_failures
from datayard.core.errors import ConfigError
from datayard.core.store.locks import Liveness

NOW = datetime(2026, 12, 7, 19, 55, 30)  # a Monday


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("hourly", datetime(2026, 12, 7, 20, 0)),
        ("daily", datetime(2026, 12, 8, 2, 0)),
        ("55 19 * * *", datetime(2026, 12, 8, 19, 55)),
        ("*/30 1-3 * * sat,sun", datetime(2026, 12, 12, 1, 0)),
        ("0 0 1 jan *", datetime(2027, 1, 1, 0, 0)),
        ("0 6 29 2 *", datetime(2028, 2, 29, 6, 0)),
        ("0 0 * * 7", datetime(2026, 12, 13, 0, 0)),
    ],
)
def test_the_next_run_is_the_first_time_the_schedule_names(
    schedule: str, expected: datetime
) -> None:
    assert Schedule.parse(schedule).next_after(NOW) == expected


def test_a_schedule_no_date_matches_runs_at_the_next_timer() -> None:
    rule = Rule(name="never", root="/r", schedule="0 0 31 4 *")
    assert next_run(rule, NOW) == AT_THE_NEXT_TIMER
    assert next_run(Rule(name="d", root="/r", schedule="hourly"), NOW) == "today 20:00"
    assert next_run(Rule(name="d", root="/r"), NOW) == "Tue 08 Dec 02:00"


def test_cron_fields_are_written_in_numbers_every_cron_reads() -> None:
    assert Schedule.parse("daily").cron() == "0 2 * * *"
    assert Schedule.parse("*/20 8-10 * jan-mar mon,7").cron() == "0,20,40 8,9,10 * 1,2,3 0,1"


def test_a_rule_travels_as_json_and_is_checked_as_the_rules_file_is() -> None:
    rule = Rule(name="sets", root="/mnt/cv", per=Per.FOLDER, depth=2, exclude=("tmp*",))
    assert rule_from_json(json.dumps(rule.as_dict()), "$X") == rule
    with pytest.raises(ConfigError, match=r"\$X: \[rules.sets\].per must be one of"):
        rule_from_json(json.dumps({**rule.as_dict(), "per": "people"}), "$X")
    with pytest.raises(ConfigError, match="not JSON"):
        rule_from_json("{", "$X")


def report(*outcomes: Outcome, interrupted: str = "") -> PassReport:
    sets = tuple(SetReport(f"f{i}", f"o/f{i}", o.value) for i, o in enumerate(outcomes))
    return PassReport("r", "host", "2026-12-07T02:00:00+00:00", 1.0, sets, interrupted)


def test_only_failed_passes_newer_than_the_seen_report_need_attention() -> None:
    ok = RuleStatus(Rule(name="ok", root="/r"), report(Outcome.PUSHED), "k2")
    failed = RuleStatus(Rule(name="bad", root="/r"), report(Outcome.FAILED), "k2")
    stopped = RuleStatus(Rule(name="cut", root="/r"), report(interrupted="stopped"), "k3")
    never = RuleStatus(Rule(name="new", root="/r"))
    statuses = [ok, failed, stopped, never]
    assert unseen_failures(statuses, {}) == [failed, stopped]
    assert unseen_failures(statuses, {"bad": "k2", "cut": "k1"}) == [stopped]
    assert unseen_failures(statuses, {"bad": "k2", "cut": "k3"}) == []


def unreported(key: str, state: Liveness) -> PassInStore:
    return PassInStore(f"locks/archive/r/{key}", None, state, datetime(2026, 12, 7, tzinfo=UTC))


def test_a_pass_that_ended_without_a_report_is_a_failure_until_seen() -> None:
    """Killed or gone stale, it counts as a stopped pass does; running, it does not (yet);
    a mark saved before such passes were shown (a report's key) still reads."""
    rule = Rule(name="r", root="/r")
    killed = RuleStatus(rule, report(Outcome.PUSHED), "k2", unreported=(
        unreported("a", Liveness.ENDED),
    ))  # fmt: skip
    gone = RuleStatus(rule, unreported=(unreported("b", Liveness.STALE),))
    running = RuleStatus(rule, report(Outcome.FAILED), "k2", unreported=(
        unreported("c", Liveness.LIVE),
    ))  # fmt: skip
    assert (killed.verdict, gone.verdict, running.verdict) == (
        "ended without a report", "ended without a report", "running",
    )  # fmt: skip
    assert (killed.failure, running.failure) == ("ended without a report", "1 failed")
    assert (killed.mark, gone.mark, running.mark) == (
        "k2|locks/archive/r/a",
        "|locks/archive/r/b",
        "k2",
    )
    assert [s.unseen_failure("k2") for s in (killed, gone, running)] == [True, True, False]
    assert [s.unseen_failure(s.mark) for s in (killed, gone, running)] == [False, False, False]
    assert running.unseen_failure("k1")  # its last report failed after the one seen
    assert killed.unseen_failure("k2|locks/archive/r/older")  # another pass killed since
