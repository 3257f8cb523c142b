"""Operations run in a child process: events, errors, logs and cancel cross the pipe."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from datayard.core import priority
from datayard.core.child_process import run_in_child_process
from datayard.core.datasets.push.engine import CheckFailedError, scan_and_check
from datayard.core.drive.check import Severity
from datayard.core.errors import DatayardError, StorageError
from datayard.core.events import Cancelled, CancelToken, Finished, Progress
from datayard.core.logs import HTTP_CLIENT, quiet_http_client
from tests.core.test_priority import MAX_NICENESS
from tests.e2e.test_push import write_images

ROOT = Path(__file__).resolve().parents[2]

# The operations: module-level, so that the child can import them by name.


def count_to(total: int, *, cancel: CancelToken) -> Iterator[object]:
    logging.getLogger("datayard.test.child").info("counting to %d in %d", total, os.getpid())
    for done in range(1, total + 1):
        yield Progress("counting", done, total)
    yield Finished(os.getpid())


def describe_process(*, cancel: CancelToken) -> Iterator[object]:
    autogroup = Path("/proc/self/autogroup")
    yield Finished(
        {
            "session": os.getsid(0),
            "niceness": os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
            "autogroup": autogroup.read_text() if autogroup.exists() else None,
        }
    )


def fail_with(error: BaseException, *, cancel: CancelToken) -> Iterator[object]:
    yield Progress("about to fail", 0, None)
    raise error


def wait_for_cancel(ready: Path, *, cancel: CancelToken) -> Iterator[object]:
    """Waits until cancelled; ``ready`` holds its pid, and ``<ready>.stopped`` says it ended."""
    ready.write_text(str(os.getpid()))
    try:
        while not cancel.wait(0.01):
            yield Progress("waiting", 0, None)
        raise Cancelled
    finally:
        ready.with_suffix(".stopped").touch()


def die(*, cancel: CancelToken) -> Iterator[object]:
    yield Progress("dying", 0, None)
    os._exit(3)


def chatter_as_the_http_client(*, cancel: CancelToken) -> Iterator[object]:
    """What urllib3 says on a retry, and on a request whose certificate is not checked."""
    logging.getLogger(f"{HTTP_CLIENT}.connectionpool").warning("Retrying (Retry(total=2))")
    warnings.warn_explicit(
        "Unverified HTTPS request", UserWarning, "connectionpool.py", 1, f"{HTTP_CLIENT}.pool"
    )
    yield Finished(None)


# The tests.


def test_events_and_the_result_arrive_in_order() -> None:
    events = list(run_in_child_process(count_to, 3))
    assert events[:3] == [Progress("counting", n, 3) for n in (1, 2, 3)]
    assert isinstance(events[3], Finished)
    assert events[3].result != os.getpid(), "it ran in this process"


def test_log_records_reach_the_callers_loggers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):  # the child logs at the level of the root logger
        (*_, finished) = run_in_child_process(count_to, 1)
    assert isinstance(finished, Finished)
    assert f"counting to 1 in {finished.result}" in caplog.messages


def test_an_error_keeps_its_type_and_message() -> None:
    relayed = run_in_child_process(fail_with, StorageError("the store said no"))
    assert next(relayed) == Progress("about to fail", 0, None)
    with pytest.raises(StorageError, match="the store said no"):
        next(relayed)


def test_a_failed_check_arrives_with_its_reports(tmp_path: Path) -> None:
    source = write_images(tmp_path / "set", 2)
    (source / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    checking = scan_and_check([source], database=tmp_path / "state.sqlite")
    while True:
        try:
            next(checking)
        except StopIteration as done:
            _, reports = done.value
            break
    assert reports[0].counts[Severity.ERROR] == 1
    with pytest.raises(CheckFailedError) as raised:
        list(run_in_child_process(fail_with, CheckFailedError(reports)))
    assert raised.value.reports == tuple(reports)


def test_an_unexpected_error_is_logged_with_its_traceback_and_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ZeroDivisionError):
        list(run_in_child_process(fail_with, ZeroDivisionError("boom")))
    (record,) = [r for r in caplog.records if r.name == "datayard.core.child_process"]
    assert "fail with failed" in record.getMessage()
    assert "ZeroDivisionError: boom" in record.getMessage()  # the child's traceback


def test_cancel_stops_the_child_and_it_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = CancelToken()
    ready = tmp_path / "ready"
    with caplog.at_level(logging.INFO):  # the child logs at the level of the root logger
        relayed = run_in_child_process(wait_for_cancel, ready, cancel=token)
        with pytest.raises(Cancelled):
            for _ in relayed:
                if ready.exists():
                    token.set()
    assert "the wait for cancel was asked to stop; it ends with the work in hand" in (
        caplog.messages
    )


def test_closing_the_stream_stops_the_child(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    relayed = run_in_child_process(wait_for_cancel, ready)
    for _ in relayed:
        if ready.exists():
            break
    relayed.close()  # returns once the child has ended: by itself, or killed 30 s later
    assert ready.with_suffix(".stopped").exists(), "it was killed, not stopped"


def test_the_child_stops_when_the_caller_is_killed(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    caller = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from datayard.core.child_process import run_in_child_process; "
            "from tests.core.test_child_process import wait_for_cancel; "
            "list(run_in_child_process(wait_for_cancel, Path(sys.argv[1])))",
            str(ready),
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text():
            assert caller.poll() is None and time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        child = psutil.Process(int(ready.read_text()))
    finally:
        caller.kill()
        caller.wait()
    child.wait(timeout=20)  # psutil.TimeoutExpired if it outlives its caller
    assert ready.with_suffix(".stopped").exists(), "it did not end its work cleanly"


def test_a_child_that_dies_is_a_clear_error() -> None:
    with pytest.raises(DatayardError, match=r"die process ended unexpectedly \(exit code 3\)"):
        list(run_in_child_process(die))


@pytest.mark.skipif(sys.platform != "linux", reason="sessions and autogroups are Linux's")
def test_the_child_is_background_work_in_a_session_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lower = min(os.nice(0) + 7, MAX_NICENESS)  # under `nice`, this process starts above 0
    monkeypatch.setattr(priority, "_niceness", lower)
    (finished,) = run_in_child_process(describe_process)
    assert isinstance(finished, Finished)
    seen = finished.result
    assert seen["session"] != os.getsid(0)
    assert seen["niceness"] == lower
    if seen["autogroup"] is not None:
        assert seen["autogroup"].split()[-1] == str(lower)


@pytest.fixture
def quiet_caller() -> Iterator[None]:
    """This process set up as an entry point without --debug sets itself up; undone after."""
    with warnings.catch_warnings():
        quiet_http_client(debug=False)
        yield
    logging.getLogger(HTTP_CLIENT).setLevel(logging.NOTSET)


@pytest.mark.usefixtures("quiet_caller")
def test_the_http_clients_chatter_stays_quiet_in_the_child_too(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    list(run_in_child_process(chatter_as_the_http_client))

    assert capfd.readouterr().err == ""
    assert [record for record in caplog.records if record.name.startswith(HTTP_CLIENT)] == []
