"""A run's events file as every reader sees it: whole events, each line as it was written."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from datayard.core.training.protocol import (
    Failed,
    Preparing,
    Record,
    Setup,
    TrainingEvent,
    encode,
)
from datayard.core.training.runs import EventCopy, EventLog, RunRegistry, RunStatus
from tests.core.test_curves import append_events, write_run

LINE_BREAKS = "cats\u2028dogs\x85birds\x1cfish\u2029"
"""Characters that Python's ``splitlines`` ends a line at, and that JSON leaves as they are."""


def test_an_event_whose_text_holds_other_line_breaks_is_read_whole(tmp_path: Path) -> None:
    run = write_run(RunRegistry(tmp_path / "runs"), epochs=1, batches=2, end=False)
    append_events(run, [Failed(reason="dataset", message=f"no class named {LINE_BREAKS}")])

    last = run.events()[-1]

    assert isinstance(last, Failed) and last.message == f"no class named {LINE_BREAKS}"
    assert run.summary().status is RunStatus.FAILED


def test_records_keep_their_lines_as_written_and_wait_for_a_line_to_end(tmp_path: Path) -> None:
    run = write_run(RunRegistry(tmp_path / "runs"), epochs=1, batches=2, end=False)
    setup = next(e for e in run.events() if isinstance(e, Setup))
    append_events(run, [replace(setup, class_names=(LINE_BREAKS,))])
    written = run.events_file.read_bytes()
    log = EventLog(run.events_file)

    with run.events_file.open("ab") as stream:
        stream.write(b'{"v":1,"seq":99,"type":"fai')  # a worker in the middle of a line
        first = log.read_new()
        stream.write(b'led","reason":"crashed","message":"gone"}\n')
    second = log.read_new()

    assert "".join(f"{record.line}\n" for record in first).encode() == written
    assert [record.line for record in second] == [
        '{"v":1,"seq":99,"type":"failed","reason":"crashed","message":"gone"}'
    ]


def test_followers_of_one_run_copy_each_event_once_whichever_is_first(tmp_path: Path) -> None:
    """Two app windows (or the app and ``logs --follow``) follow the same run: each is
    told every event, in turn, and the copy has each event once and in order."""
    run = write_run(RunRegistry(tmp_path / "runs"), epochs=1, batches=2, end=False)
    first, second = EventCopy(run), EventCopy(run)
    start = first.next_seq
    events: list[TrainingEvent] = [
        Preparing(phase="resuming"),
        Failed(reason="crashed", message="gone"),
        Preparing(phase="resuming"),
    ]
    records = [Record(start + i, e, encode(e, start + i)) for i, e in enumerate(events)]

    told = [
        first.take(records[0]),
        second.take(records[0]),  # the first appended it
        second.take(records[1]),
        second.take(records[2]),
        first.take(records[2]),  # not its next: it has not been told of the second yet
        first.take(records[1]),
        first.take(records[2]),
        first.take(records[1]),  # told already
    ]

    assert told == [True, True, True, True, False, True, True, False]
    assert [r.seq for r in EventLog(run.events_file).read_new()] == list(range(start + 3))
    assert run.events()[-3:] == events
