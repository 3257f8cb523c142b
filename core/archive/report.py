"""What one archive pass did, kept in the store under its rule for any machine to read.

A report is written by a pass and read back by ``archive show`` (and by any Datayard
that has the store), so it is parsed as every object of the store is: each field
checked, a report that does not fit refused with one line naming its key.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from datayard.core import schema
from datayard.core.errors import InvalidStoreObjectError
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import archive_reports


class Outcome(StrEnum):
    PUSHED = "pushed"
    """Its content changed: a new version was published."""
    UNCHANGED = "unchanged"
    """Its content is its latest version's: nothing was published."""
    FAILED = "failed"


@dataclass(frozen=True)
class SetReport:
    folder: str
    dataset: str
    outcome: str
    version: str = ""
    files: int = 0
    sent_bytes: int = 0
    trainable: bool = True
    problems: str = ""
    """The blocking problems it was archived with, as its version's message says them."""
    reason: str = ""
    """Why it failed."""


@dataclass(frozen=True)
class PassReport:
    rule: str
    host: str
    started: str
    duration_s: float
    sets: tuple[SetReport, ...]
    interrupted: str = ""
    """What stopped the pass before every set was done (the next pass does the rest)."""
    continued: str = ""
    """The passes before it that ended without their report (killed), which it took over."""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for found in self.sets if found.outcome == outcome.value)

    @property
    def sent_bytes(self) -> int:
        return sum(found.sent_bytes for found in self.sets)

    @property
    def untrainable(self) -> tuple[SetReport, ...]:
        return tuple(found for found in self.sets if not found.trainable)

    @property
    def failed(self) -> bool:
        """A dataset failed or the pass stopped early: what a person should hear of."""
        return bool(self.count(Outcome.FAILED) or self.interrupted)

    def summary(self) -> dict[str, int]:
        """The counts a person reads first: seen, changed, pushed, skipped, failed."""
        pushed, failed = self.count(Outcome.PUSHED), self.count(Outcome.FAILED)
        return {
            "seen": len(self.sets),
            "changed": len(self.sets) - self.count(Outcome.UNCHANGED),
            "pushed": pushed,
            "skipped": self.count(Outcome.UNCHANGED),
            "failed": failed,
            "not_trainable": len(self.untrainable),
            "sent_bytes": self.sent_bytes,
        }

    def to_dict(self) -> dict[str, Any]:
        """Its fields and its counts, as stored and as ``--json`` prints them."""
        return {**asdict(self), **self.summary()}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=1).encode()

    @classmethod
    def parse(cls, raw: bytes, key: str) -> PassReport:
        """The report stored at ``key``; :class:`InvalidStoreObjectError` naming the field
        that does not fit."""
        try:
            data = schema.json_object(schema.load_json(raw))
            duration = schema.member(data, "duration_s")
            if type(duration) not in (int, float) or duration < 0:
                raise schema.SchemaError("duration_s", "is not a number of seconds")
            sets = schema.member(data, "sets")
            if type(sets) is not list:
                raise schema.SchemaError("sets", "is not a list")
            return cls(
                rule=schema.text(data, "rule"),
                host=schema.text(data, "host"),
                started=schema.iso_time(data, "started"),
                duration_s=float(duration),
                sets=tuple(_set_report(item, index) for index, item in enumerate(sets)),
                interrupted=schema.text(data, "interrupted"),
                continued=schema.optional_text(data, "continued") or "",
            )
        except schema.SchemaError as error:
            raise InvalidStoreObjectError(key, error.field, error.problem) from None


def _set_report(item: object, index: int) -> SetReport:
    try:
        fields = schema.checked_fields(SetReport, schema.json_object(item))
        return SetReport(**fields)
    except schema.SchemaError as error:
        raise error.within(f"sets[{index}]") from None
    except TypeError:
        raise schema.SchemaError(f"sets[{index}]", "lacks a field of a dataset") from None


def report_key(rule: str, stored: datetime) -> str:
    """Named by when it is stored, to the microsecond: the last key is the last pass's."""
    return f"{archive_reports(rule)}{stored:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"


def store_report(bucket: Bucket, report: PassReport) -> str:
    key = report_key(report.rule, datetime.now(UTC))
    bucket.put_bytes(key, report.to_json(), content_type="application/json")
    return key


def last_report(bucket: Bucket, rule: str) -> PassReport | None:
    """The report of the rule's last pass, ``None`` before its first."""
    stored = last_stored(bucket, rule)
    return stored[1] if stored else None


def last_stored(bucket: Bucket, rule: str) -> tuple[str, PassReport] | None:
    """The key and report of the rule's last pass: the key tells a report from the one a
    person saw before (a later pass's key sorts after)."""
    keys = sorted(item.key for item in bucket.objects(archive_reports(rule)))
    if not keys:
        return None
    return keys[-1], PassReport.parse(bucket.get_bytes(keys[-1]), keys[-1])
