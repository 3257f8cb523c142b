"""A run's events file as every reader sees it: whole events, each line as it was written."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from datayard.core.training.protocol import Failed, Setup
from datayard.core.training.runs import EventLog, RunRegistry, RunStatus
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
