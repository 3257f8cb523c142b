"""The push queue: which moves a job may make, what may start, what survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from datayard.core.datasets.push import PushResult, SplitMode
from datayard.core.datasets.push.queue import (
    Job,
    JobState,
    JobStateError,
    JobStore,
    PushQueue,
    failure_message,
)
from datayard.core.datasets.push.request import PushRequest, folders_to_push, suggest_dataset_name
from datayard.core.errors import BucketMissingError
from datayard.core.events import FileFailed, Progress, Transfer


def request(name: str = "pets") -> PushRequest:
    return PushRequest((Path(f"/share/{name}"),), name, "lab", SplitMode.FOLDER)


def test_a_job_goes_from_queued_to_done_and_subscribers_see_each_step() -> None:
    queue = PushQueue()
    seen: list[JobState] = []
    queue.subscribe(lambda job: seen.append(job.state))
    job = queue.add(request())
    assert queue.startable() == [job]
    queue.start(job.id)
    queue.record(job.id, Progress("hashing", 3, 10))
    queue.record(job.id, Transfer("uploading", 5, 10, 500, 1000, 1.0))
    assert job.transfer is not None and job.transfer.eta == pytest.approx(1.0)
    queue.finish(job.id, PushResult("ada/pets", None))
    assert job.state is JobState.DONE
    assert seen == [
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.RUNNING,
        JobState.RUNNING,
        JobState.DONE,
    ]
    assert not queue.has_active()


def test_only_max_running_jobs_start_and_a_winding_down_job_holds_its_slot() -> None:
    queue = PushQueue(max_running=2)
    first, second, third = (queue.add(request(n)) for n in ("a", "b", "c"))
    assert queue.startable() == [first, second]
    queue.start(first.id)
    queue.pause(first.id)  # its operation is still stopping
    assert queue.startable(busy=[first.id]) == [second]
    queue.resume(first.id)
    assert first not in queue.startable(busy=[first.id])
    assert queue.startable() == [first, second]
    assert third.state is JobState.QUEUED


@pytest.mark.parametrize(
    ("moves", "refused"),
    [
        (["start", "finish"], "pause"),  # done is final
        ([], "finish"),  # a queued job has not run
        (["start", "pause"], "pause"),
        (["start", "fail"], "pause"),
    ],
)
def test_moves_that_do_not_apply_are_refused_with_a_message(moves: list[str], refused: str) -> None:
    queue = PushQueue()
    job = queue.add(request())
    actions = {
        "start": lambda: queue.start(job.id),
        "finish": lambda: queue.finish(job.id, PushResult("ada/pets", None)),
        "pause": lambda: queue.pause(job.id),
        "fail": lambda: queue.fail(job.id, BucketMissingError("the bucket is gone")),
    }
    for move in moves:
        actions[move]()
    with pytest.raises(JobStateError, match="the push 'pets' is"):
        actions[refused]()


def test_events_and_errors_after_a_pause_do_not_change_the_job() -> None:
    queue = PushQueue()
    job = queue.add(request())
    queue.start(job.id)
    queue.pause(job.id)
    queue.record(job.id, Transfer("uploading", 1, 2, 1, 2, 1.0))
    queue.fail(job.id, RuntimeError("cancelled mid-request"))
    assert job.state is JobState.PAUSED and job.transfer is None and not job.error
    # A push that published before the pause reached it is done all the same.
    queue.finish(job.id, PushResult("ada/pets", None))
    assert job.state is JobState.DONE


def test_failed_files_make_a_failed_job_that_retries_from_scratch() -> None:
    queue = PushQueue()
    job = queue.add(request())
    queue.start(job.id)
    failure = FileFailed("images/train/a.png", "Permission denied")
    queue.record(job.id, failure)
    queue.finish(job.id, PushResult("ada/pets", None, failures=(failure,)))
    assert job.state is JobState.FAILED
    assert job.failures == [failure]
    assert "1 file(s) could not be sent" in job.error and "retry" in job.error
    queue.resume(job.id)
    queue.start(job.id)
    assert job.failures == [] and job.error == "" and job.result is None


def test_error_messages_are_for_people() -> None:
    assert failure_message(BucketMissingError("the bucket 'x' does not exist")).startswith(
        "The bucket 'x' does not exist"
    )
    unexpected = failure_message(KeyError("boom"))
    assert "Unexpected error (KeyError" in unexpected and "log" in unexpected


def test_unfinished_jobs_survive_a_restart_as_interrupted(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    queue = PushQueue(store=JobStore(database))
    crashed, paused, done, cancelled = (queue.add(request(n)) for n in "abcd")
    for job in (crashed, paused, done):
        queue.start(job.id)
    queue.pause(paused.id)
    queue.finish(done.id, PushResult("ada/c", None))
    queue.cancel(cancelled.id)
    waiting = queue.add(request("e"))

    loaded = JobStore(database).load()
    assert [job.request for job in loaded] == [crashed.request, paused.request, waiting.request]
    assert {job.state for job in loaded} == {JobState.INTERRUPTED}
    assert loaded[0].id == crashed.id

    later = PushQueue(store=JobStore(database))
    later.adopt(loaded)
    later.resume(crashed.id)
    later.cancel(paused.id)
    later.remove(paused.id)
    assert [job.id for job in JobStore(database).load()] == [crashed.id, waiting.id]


def test_a_request_round_trips_through_json() -> None:
    original = PushRequest((Path("/a b/c"), Path("/d")), "set", "lab", SplitMode.RATIO, True, "m")
    assert PushRequest.from_json(original.to_json()) == original


def test_a_request_saved_before_messages_loads_without_one() -> None:
    saved = '{"paths": ["/d"], "dataset": "set", "profile": "lab", "split": "auto", "force": false}'
    assert PushRequest.from_json(saved).message == ""


@pytest.mark.parametrize(
    ("folders", "name"),
    [
        (["/share/Alice Martin"], "Alice-Martin"),
        (["/share/Été 2024 (v2)"], "Ete-2024-v2"),
        (["/share/pets/train", "/share/pets/val"], "pets"),
        (["/share/cats", "/other/dogs"], "cats"),
        (["/share/__"], "dataset"),
        ([], "dataset"),
    ],
)
def test_the_suggested_name_is_valid_and_recognisable(folders: list[str], name: str) -> None:
    assert suggest_dataset_name([Path(f) for f in folders]) == name


def test_dropped_files_stand_for_their_folder(tmp_path: Path) -> None:
    (tmp_path / "set").mkdir()
    image = tmp_path / "set" / "a.png"
    image.write_bytes(b"x")
    other = tmp_path / "other"
    other.mkdir()
    dropped = [image, tmp_path / "set", other, tmp_path / "gone"]
    assert folders_to_push(dropped) == [tmp_path / "set", other]


def test_a_job_is_active_while_queued_or_running() -> None:
    job = Job("x", request())
    assert job.active
    job.state = JobState.PAUSED
    assert not job.active
