"""Pushes and gc on one store, in every interleaving that matters, against a real SeaweedFS.

Each test drives the operations step by step (:mod:`tests.fixtures.interleave`):
the order is decided by the test, never by sleeping. What a user would check
comes last: every version verifies deep, and the push said what it waited for.
"""

from __future__ import annotations

import getpass
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.manifest import Manifest
from datayard.core.datasets.push import PushOptions, PushPlanned, PushResult, push
from datayard.core.datasets.verify import VerifyResult, verify
from datayard.core.errors import LockLostError, StoreLockedError
from datayard.core.events import Checkpoint, Finished, Waiting, run_to_end
from datayard.core.paths import AppDirs
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import BLOBS, latest_key, lock_prefix, version_key
from datayard.core.store.locks import (
    STORE,
    Holder,
    LockTiming,
    Mode,
    acquire,
    list_locks,
    server_time,
)
from datayard.core.upkeep import gc as gc_module
from datayard.core.upkeep.gc import GcResult, collect_garbage
from tests.fixtures.datasets import add_profile, fresh_bucket, png, run_cli, upload
from tests.fixtures.interleave import Interleaving
from tests.fixtures.services import S3Server, datayard_command

pytestmark = pytest.mark.usefixtures("secret_service")

LAB = ("--profile", "lab")
QUICK = LockTiming(poll_s=0.05)
"""Waiting operations look again at once: the tests decide the order, not the clock."""


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    return fresh_bucket(s3_server, connections=16)


def images(folder: Path, count: int, seed: int = 0) -> Path:
    """Distinct small PNGs (unlabelled: a set of background images is trainable)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        colour = (seed % 256, index % 256, (index // 256 + 7 * seed) % 256)
        (folder / f"img_{index:04d}.png").write_bytes(png(colour, size=(24 + seed % 5, 16)))
    return folder


def as_garbage(bucket: Bucket, folder: Path) -> set[str]:
    """Store the folder's contents as blobs no version names: what gc deletes."""
    return {upload(bucket, path.read_bytes()) for path in sorted(folder.iterdir())}


def pushing(
    bucket: Bucket, folder: Path, dataset: str, timing: LockTiming = QUICK
) -> Callable[[Checkpoint], Iterator[object]]:
    options = PushOptions(dataset=dataset, owner="ada", workers=4)
    database = AppDirs.default().ensure().database

    def operation(checkpoint: Checkpoint) -> Iterator[object]:
        return push(
            [folder],
            options,
            bucket=bucket,
            database=database,
            timing=timing,
            checkpoint=checkpoint,
        )

    return operation


def collecting(
    bucket: Bucket, timing: LockTiming = QUICK
) -> Callable[[Checkpoint], Iterator[object]]:
    def operation(checkpoint: Checkpoint) -> Iterator[object]:
        return collect_garbage(bucket, delete=True, timing=timing, checkpoint=checkpoint)

    return operation


def result_of(events: list[object], kind: type) -> object:
    (found,) = [e.result for e in events if isinstance(e, Finished) and isinstance(e.result, kind)]
    return found


def planned(events: list[object]) -> PushPlanned:
    (found,) = [e for e in events if isinstance(e, PushPlanned)]
    return found


def waits(events: list[object]) -> list[str]:
    return [e.reason for e in events if isinstance(e, Waiting)]


def deep_verify_all(bucket: Bucket) -> dict[str, VerifyResult]:
    """What ``datayard verify --deep`` says of every version of every dataset."""
    return {
        manifest.ref: run_to_end(verify(bucket, manifest, deep=True), VerifyResult)
        for manifest in Catalog(bucket).all_versions()
    }


def assert_every_version_intact(bucket: Bucket) -> None:
    results = deep_verify_all(bucket)
    assert results, "no version was published"
    broken = {ref: result.problems for ref, result in results.items() if not result.intact}
    assert not broken


def stored(bucket: Bucket) -> set[str]:
    return {item.key.rsplit("/", 1)[1] for item in bucket.objects(BLOBS)}


def test_a_push_that_meets_a_deleting_gc_waits_then_sends_what_it_deleted(
    bucket: Bucket, tmp_path: Path
) -> None:
    folder = images(tmp_path / "g", 24)
    garbage = as_garbage(bucket, folder)
    steps = Interleaving()
    steps.start("gc", collecting(bucket))
    steps.run_until("gc", "manifests-read")  # gc has decided: the folder's blobs are garbage
    steps.start("push", pushing(bucket, folder, "gx"))
    steps.run_until("push", "locks-listed")  # the push has seen the gc's lock ...
    steps.run_until("push", "locks-listed")  # ... and looks again: it waits
    gc_result = result_of(steps.finish("gc"), GcResult)
    assert isinstance(gc_result, GcResult) and set(gc_result.deleted) == garbage

    events = steps.finish("push")
    assert any(reason.startswith("waiting for gc by ") for reason in waits(events))
    assert planned(events).new_blobs == len(garbage)  # everything gc deleted is sent again
    assert_every_version_intact(bucket)


def test_a_push_that_starts_during_the_sweep_waits_for_its_end(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gc_module, "DELETE_BATCH", 5)
    folder = images(tmp_path / "g", 20)
    garbage = as_garbage(bucket, folder)
    steps = Interleaving()
    steps.start("gc", collecting(bucket))
    steps.run_until("gc", "batch-deleted")  # 5 of the 20 are gone, 15 still listed
    assert len(stored(bucket)) == len(garbage) - 5
    steps.start("push", pushing(bucket, folder, "gx"))
    steps.run_until("push", "locks-listed")
    steps.run_until("push", "locks-listed")  # still waiting, not asking the store
    steps.finish("gc")
    events = steps.finish("push")
    assert planned(events).new_blobs == len(garbage)
    assert_every_version_intact(bucket)


def test_gc_waits_for_a_push_in_progress_and_deletes_none_of_its_blobs(
    bucket: Bucket, tmp_path: Path
) -> None:
    folder = images(tmp_path / "g", 20)
    already = as_garbage(bucket, images(tmp_path / "half", 10))  # the push's first 10 images
    for path in sorted((tmp_path / "half").iterdir()):
        path.rename(folder / f"same_{path.name}")
    orphan = upload(bucket, png((1, 2, 3), size=(99, 9)))
    steps = Interleaving()
    steps.start("push", pushing(bucket, folder, "gx"))
    steps.run_until("push", "store-checked")  # counted the 10 stored blobs; sends the rest
    steps.start("gc", collecting(bucket))
    steps.run_until("gc", "backed-off")  # saw the push's lock, withdrew its own

    with pytest.raises(StoreLockedError, match=r"push of ada/gx .* is in progress on this store"):
        run_to_end(collect_garbage(bucket, delete=True, wait=False), GcResult)

    push_events = steps.finish("push")
    gc_events = steps.finish("gc")
    assert waits(gc_events) and "push of ada/gx" in waits(gc_events)[0]
    gc_result = result_of(gc_events, GcResult)
    assert isinstance(gc_result, GcResult) and set(gc_result.deleted) == {orphan}
    manifest = result_of(push_events, PushResult).manifest  # type: ignore[attr-defined]
    assert already <= set(manifest.blobs) <= stored(bucket)
    assert_every_version_intact(bucket)


def test_a_push_and_a_gc_that_lock_at_the_same_moment_do_not_both_go_on(
    bucket: Bucket, tmp_path: Path
) -> None:
    folder = images(tmp_path / "g", 12)
    garbage = as_garbage(bucket, folder)
    steps = Interleaving()
    steps.start("push", pushing(bucket, folder, "gx"))
    steps.start("gc", collecting(bucket))
    steps.run_until("push", "lock-written")
    steps.run_until("gc", "lock-written")
    steps.run_until("push", "locks-listed")  # sees the gc: keeps its lock and waits
    steps.run_until("gc", "locks-listed")  # sees the push: backs off
    steps.run_until("gc", "backed-off")
    push_events = steps.finish("push")
    assert planned(push_events).new_blobs == 0  # the garbage was still there: nothing to send
    gc_result = result_of(steps.finish("gc"), GcResult)
    assert isinstance(gc_result, GcResult) and gc_result.deleted == ()
    assert garbage <= stored(bucket)
    assert_every_version_intact(bucket)


LOCK_HOLDER = """
import json, sys, time
from datayard.core.settings import Profile
from datayard.core.store.bucket import Bucket
from datayard.core.store.locks import Mode, acquire
spec = json.loads(sys.stdin.readline())
bucket = Bucket(Profile(**spec["profile"]), spec["secret"])
taking = acquire(bucket, Mode(spec["mode"]), spec["operation"])
try:
    while True:
        next(taking)
except StopIteration:
    pass
print("locked", flush=True)
time.sleep(600)
"""


def crash_while_holding(server: S3Server, bucket: Bucket, mode: Mode, operation: str) -> None:
    """A process of this machine takes a lock and is killed with SIGKILL: its lock stays."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    profile = bucket.profile
    spec = {
        "profile": {
            "name": profile.name,
            "endpoint": profile.endpoint,
            "bucket": profile.bucket,
            "access_key": profile.access_key,
        },
        "secret": server.secret,  # through a pipe: never on a command line
        "mode": mode.value,
        "operation": operation,
    }
    holder.stdin.write(json.dumps(spec) + "\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert [lock.holder.operation for lock in list_locks(bucket) if lock.holder] == [operation]


def test_a_killed_push_does_not_keep_gc_waiting(
    s3_server: S3Server, bucket: Bucket, tmp_path: Path
) -> None:
    garbage = as_garbage(bucket, images(tmp_path / "g", 5))
    crash_while_holding(s3_server, bucket, Mode.SHARED, "push of ada/crashed")
    events = list(collect_garbage(bucket, delete=True, timing=QUICK))
    assert waits(events) == []
    gc_result = result_of(events, GcResult)
    assert isinstance(gc_result, GcResult) and set(gc_result.deleted) == garbage
    assert list_locks(bucket) == []  # the dead push's lock went with gc's look at it


def test_a_killed_gc_does_not_keep_pushes_waiting(
    s3_server: S3Server, bucket: Bucket, tmp_path: Path
) -> None:
    folder = images(tmp_path / "g", 5)
    crash_while_holding(s3_server, bucket, Mode.EXCLUSIVE, "gc")
    events = list(pushing(bucket, folder, "gx")(lambda _step: None))
    assert waits(events) == []
    assert result_of(events, PushResult).manifest is not None  # type: ignore[attr-defined]
    assert list_locks(bucket) == []
    assert_every_version_intact(bucket)


def wait_until_stale(bucket: Bucket, key: str, stale_s: float) -> None:
    """Let time pass until the store's clock says the lock was last written ``stale_s`` ago."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (lock,) = [lock for lock in list_locks(bucket) if lock.key == key]
        if server_time(bucket) - lock.modified > timedelta(seconds=stale_s):
            return
        time.sleep(0.2)
    raise AssertionError(f"{key} did not go stale")


def lock_key(steps_bucket: Bucket, operation: str) -> str:
    (key,) = [
        lock.key
        for lock in list_locks(steps_bucket)
        if lock.holder is not None and lock.holder.operation == operation
    ]
    return key


def test_a_push_whose_lock_went_stale_checks_the_store_again_before_publishing(
    bucket: Bucket, tmp_path: Path
) -> None:
    """The push stood still (a suspended laptop) long enough for gc to judge its lock stale."""
    folder = images(tmp_path / "g", 12)
    garbage = as_garbage(bucket, folder)
    frozen = LockTiming(refresh_s=100, stale_s=1, poll_s=0.05)  # it never refreshes in time
    awake = LockTiming(refresh_s=0.2, stale_s=1, poll_s=0.05)
    steps = Interleaving()
    steps.start("push", pushing(bucket, folder, "gx", timing=frozen))
    steps.run_until("push", "locks-listed")
    wait_until_stale(bucket, lock_key(bucket, "push of ada/gx"), stale_s=1)
    steps.start("gc", collecting(bucket, timing=awake))
    steps.run_until("gc", "manifests-read")  # the stale push is ignored; it wrote no marker yet
    steps.run_until("push", "store-checked")  # the push counts the blobs gc is about to delete
    gc_result = result_of(steps.finish("gc"), GcResult)
    assert isinstance(gc_result, GcResult) and set(gc_result.deleted) == garbage

    events = steps.finish("push")
    assert planned(events).new_blobs == 0  # it believed them stored ...
    assert "uploaded" in steps.steps("push")
    assert garbage <= stored(bucket)  # ... and sent them once its lock was fresh again
    assert_every_version_intact(bucket)


def test_a_gc_whose_lock_went_stale_stops_before_deleting(bucket: Bucket, tmp_path: Path) -> None:
    folder = images(tmp_path / "g", 12)
    garbage = as_garbage(bucket, folder)
    frozen = LockTiming(refresh_s=100, stale_s=1, poll_s=0.05)
    awake = LockTiming(refresh_s=0.2, stale_s=1, poll_s=0.05)
    steps = Interleaving()
    steps.start("gc", collecting(bucket, timing=frozen))
    steps.run_until("gc", "manifests-read")
    wait_until_stale(bucket, lock_key(bucket, "gc"), stale_s=1)
    steps.start("push", pushing(bucket, folder, "gx", timing=awake))
    push_events = steps.finish("push")  # ignores the stale gc; counts the garbage as stored
    assert planned(push_events).new_blobs == 0
    with pytest.raises(LockLostError, match="the lock of this gc on the store is lost"):
        steps.finish("gc")
    assert garbage <= stored(bucket)
    assert_every_version_intact(bucket)


def chain(bucket: Bucket, owner: str, name: str) -> list[Manifest]:
    """The dataset's history from its latest version back to its first, by parents."""
    catalog = Catalog(bucket)
    versions = {m.id: m for m in catalog.all_versions() if (m.owner, m.name) == (owner, name)}
    line = []
    current = catalog.latest(owner, name)
    while current is not None:
        line.append(versions.pop(current))
        current = line[-1].parent
    assert versions == {}, f"versions off the line: {sorted(versions)}"
    return line


@pytest.mark.parametrize("conditional_writes", [True, False], ids=["if-match", "publish-lock"])
def test_two_pushes_publishing_at_once_make_a_linear_history(
    s3_server: S3Server, tmp_path: Path, conditional_writes: bool
) -> None:
    plain = fresh_bucket(s3_server)
    bucket = Bucket(plain.profile, s3_server.secret, conditional_writes=conditional_writes)
    assert plain.honours_conditions()  # SeaweedFS does; the other case is forced
    first, second = images(tmp_path / "a", 4, seed=1), images(tmp_path / "b", 4, seed=2)
    steps = Interleaving()
    steps.start("a", pushing(bucket, first, "shared"))
    steps.start("b", pushing(bucket, second, "shared"))
    steps.run_until("a", "latest-read")  # both chose "no parent" ...
    if conditional_writes:
        steps.run_until("b", "latest-read")
    else:
        steps.run_until("b", "backed-off")  # ... or b waits for a's publish lock
    a = result_of(steps.finish("a"), PushResult).manifest  # type: ignore[attr-defined]
    b = result_of(steps.finish("b"), PushResult).manifest  # type: ignore[attr-defined]
    assert a.parent is None and b.parent == a.id
    assert [m.id for m in chain(bucket, "ada", "shared")] == [b.id, a.id]
    assert Catalog(bucket).version(DatasetRef("ada", "shared")).id == b.id


def test_simultaneous_pushes_from_the_command_line_line_up(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    add_profile(s3_server, bucket)
    folders = [images(tmp_path / f"set{n}", 3, seed=n) for n in range(4)]
    pushes = [
        subprocess.Popen(
            datayard_command("push", str(folder), "--dataset", "line", *LAB),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in folders
    ]
    for process in pushes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    line = chain(bucket, getpass.getuser(), "line")
    assert len(line) == 4 and line[-1].parent is None


def test_pushes_sharing_blobs_and_gc_at_once_never_publish_a_missing_blob(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """Rounds of three pushes and a deleting gc started together, as separate processes.

    Before each round the blobs the pushes need are stored as garbage, so that
    each round's gc and pushes race for the same blobs.
    """
    bucket = fresh_bucket(s3_server)
    add_profile(s3_server, bucket)
    for round_ in range(3):
        shared = images(tmp_path / f"shared{round_}", 15, seed=10 + round_)
        folders = []
        for n in range(3):
            folder = images(tmp_path / f"r{round_}p{n}", 5, seed=100 * round_ + n)
            for path in shared.iterdir():
                (folder / f"shared_{path.name}").write_bytes(path.read_bytes())
            as_garbage(bucket, folder)
            folders.append(folder)
        commands = [
            datayard_command("push", str(folder), "--dataset", f"p{n}", *LAB)
            for n, folder in enumerate(folders)
        ]
        commands.insert(round_ % 4, datayard_command("gc", "--delete", *LAB))
        processes = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for command in commands
        ]
        for process in processes:
            _, err = process.communicate(timeout=180)
            assert process.returncode == 0, err
    results = deep_verify_all(bucket)
    assert len(results) == 9
    assert all(result.intact for result in results.values()), results


def next_value(generator: Iterator[object]) -> object:
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


def test_gc_on_the_command_line_says_what_it_waits_for(s3_server: S3Server, bucket: Bucket) -> None:
    add_profile(s3_server, bucket)
    taking = acquire(bucket, Mode.SHARED, "push of ada/busy")
    held = next_value(taking)
    with held:
        refused = run_cli("gc", "--delete", "--no-wait", *LAB)
        assert refused.returncode == 1
        assert (
            "push of ada/busy" in refused.stderr and "in progress on this store" in refused.stderr
        )
        assert "Traceback" not in refused.stderr

        waiting = subprocess.Popen(
            datayard_command("gc", "--delete", *LAB),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stderr is not None
        line = waiting.stderr.readline()
        assert line.startswith("waiting for push of ada/busy by ")
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "Deleted 0 unused blobs" in out


def test_locks_and_unlock_on_the_command_line(s3_server: S3Server, bucket: Bucket) -> None:
    add_profile(s3_server, bucket)
    crash_while_holding(s3_server, bucket, Mode.SHARED, "push of ada/crashed")
    foreign = Holder(
        operation="gc",
        user="bob",
        host="elsewhere",
        machine="elsewhere/boot/pid:[1]",
        pid=1,
        process_started=0.0,
        started="2026-01-01T00:00:00+00:00",
    )
    bucket.put_bytes(f"{lock_prefix(STORE)}exclusive-foreign.json", foreign.to_json())

    listed = run_cli("locks", *LAB, "--json")
    assert listed.returncode == 0, listed.stderr
    states = {entry["operation"]: entry["state"] for entry in json.loads(listed.stdout)}
    assert states == {"push of ada/crashed": "ended", "gc": "live"}

    cleared = run_cli("unlock", *LAB)
    assert cleared.returncode == 0, cleared.stderr
    assert "Removed 1 lock" in cleared.stdout and "Kept 1 live lock" in cleared.stdout
    assert [lock.holder.host for lock in list_locks(bucket) if lock.holder] == ["elsewhere"]

    assert run_cli("unlock", "--all", *LAB).returncode == 0
    assert list_locks(bucket) == []


def test_an_unreadable_lock_object_still_counts(bucket: Bucket) -> None:
    """An unreadable lock is not ignored: it counts (and goes stale like any other)."""
    bucket.put_bytes(f"{lock_prefix(STORE)}shared-garbled.json", b"{not json")
    with pytest.raises(StoreLockedError, match="unreadable lock object"):
        run_to_end(collect_garbage(bucket, delete=True, wait=False), GcResult)


def test_a_version_that_goes_away_as_the_newest_is_read_is_looked_for_again(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before a dataset's pointer exists, the newest version is the last one listed, and
    the listing may show the version of a push losing the race to publish first, which
    that push removes a moment later. A push starting then reads the winner's, not an
    error that the dataset "has no version" (seen with four pushes started at once)."""
    pushed = pushing(bucket, images(tmp_path / "a", 2), "race")(lambda _step: None)
    winner = run_to_end(pushed, PushResult).manifest
    assert winner is not None
    loser = replace(winner, id=f"{winner.id[:-8]}ffffffff")  # listed after the winner
    loser_key = version_key("ada", "race", loser.id)
    bucket.put_bytes(loser_key, loser.to_json())
    bucket.remove([latest_key("ada", "race")])  # as before the winner sets it
    catalog = Catalog(bucket)
    listed = catalog.versions

    def listed_then_removed(owner: str, name: str) -> list[str]:
        found = listed(owner, name)
        bucket.remove([loser_key])  # the losing push takes its version back
        return found

    monkeypatch.setattr(catalog, "versions", listed_then_removed)

    newest = catalog.newest("ada", "race")

    assert newest is not None and newest.id == winner.id
