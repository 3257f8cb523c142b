"""Archive passes against the real store, on a shared-drive tree that changes between them;
the rules' command line and the units that schedule a pass."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest

from datayard.core.archive.report import Outcome, PassReport, last_report
from datayard.core.archive.rules import Per, Rule
from datayard.core.archive.run import PassRunningError, passes_in_store, run_pass
from datayard.core.datasets.catalog import Catalog
from datayard.core.events import Cancelled, Checkpoint, Finished
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import PUSHES, archive_lock_scope, blob_key, lock_prefix
from datayard.core.store.locks import Holder, Liveness, LockTiming, Mode, acquire, list_locks
from tests.fixtures.datasets import add_profile, fresh_bucket, png, run_cli
from tests.fixtures.services import S3Server, datayard_command
from tests.fixtures.store_proxy import StoreProxy, kill_at, request_to

T = TypeVar("T")
DATA_YAML = b"path: .\ntrain: images/train\nval: images/val\nnames: [cat, dog]\n"


def write_set(folder: Path, shade: int) -> None:
    """A small trainable set whose images are the person's own (``shade``)."""
    files = {
        "data.yaml": DATA_YAML,
        "images/train/a.png": png((shade, 10, 10)),
        "labels/train/a.txt": b"0 0.5 0.5 0.2 0.2\n",
        "images/train/b.png": png((shade, 90, 10)),
        "labels/train/b.txt": b"1 0.4 0.4 0.3 0.3\n",
        "images/val/c.png": png((shade, 10, 90)),
        "labels/val/c.txt": b"1 0.5 0.5 0.5 0.5\n",
    }
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    return fresh_bucket(s3_server)


def a_pass(
    rule: Rule,
    bucket: Bucket,
    database: Path,
    checkpoint: Checkpoint | None = None,
    timing: LockTiming | None = None,
) -> PassReport:
    for event in run_pass(
        rule,
        bucket=bucket,
        database=database,
        owner="lab",
        workers=4,
        checkpoint=checkpoint,
        timing=timing,
    ):
        if isinstance(event, Finished):
            return event.result
    raise AssertionError("the pass ended without its report")


def versions(bucket: Bucket) -> dict[str, list[str]]:
    catalog = Catalog(bucket)
    return {f"{o}/{n}": sorted(ids) for (o, n), ids in catalog.names().items()}


def outcomes(report: PassReport) -> dict[str, str]:
    return {found.dataset: found.outcome for found in report.sets}


def test_passes_publish_exactly_what_changed(bucket: Bucket, tmp_path: Path) -> None:
    share = tmp_path / "share"
    for person, shade in (("ada", 200), ("bob", 120), ("dan", 60)):
        write_set(share / person / "cats", shade)
    rule = Rule(name="nightly", root=str(share))
    database = tmp_path / "state.sqlite3"

    first = a_pass(rule, bucket, database)
    assert outcomes(first) == dict.fromkeys(
        ("ada/nightly", "bob/nightly", "dan/nightly"), Outcome.PUSHED.value
    )
    published = versions(bucket)
    assert {name: len(ids) for name, ids in published.items()} == {
        "ada/nightly": 1,
        "bob/nightly": 1,
        "dan/nightly": 1,
    }
    manifest = Catalog(bucket).newest("ada", "nightly")
    assert manifest is not None and manifest.message == "archived by rule nightly"

    second = a_pass(rule, bucket, database)
    assert versions(bucket) == published
    assert second.summary()["skipped"] == 3 and second.summary()["pushed"] == 0
    assert second.sent_bytes == 0

    (share / "ada" / "cats" / "images" / "train" / "a.png").write_bytes(png((201, 11, 11)))
    write_set(share / "carol" / "dogs", 30)
    (share / "bob" / "cats" / "labels" / "train" / "b.txt").write_bytes(b"7 0.4 0.4 0.3 0.3\n")
    for clash in ("eve x", "eve-x"):  # two folders that make one dataset name
        write_set(share / clash, 10)
    third = a_pass(rule, bucket, database)
    assert (
        outcomes(third)
        == {
            "ada/nightly": "pushed",
            "bob/nightly": "pushed",
            "carol/nightly": "pushed",
            "dan/nightly": "unchanged",
            "eve-x/nightly": "failed",
        }
        and len(third.sets) == 6
    )
    after = versions(bucket)
    assert after["dan/nightly"] == published["dan/nightly"]
    assert len(after["ada/nightly"]) == len(after["bob/nightly"]) == 2
    assert "eve-x/nightly" not in after
    (bob,) = third.untrainable
    assert bob.dataset == "bob/nightly" and "class" in bob.problems
    broken = Catalog(bucket).newest("bob", "nightly")
    assert (
        broken is not None
        and "; not trainable: 2 blocking problem(s): class id beyond" in broken.message
    )
    assert last_report(bucket, "nightly") == third

    fourth = a_pass(rule, bucket, database)  # the broken set stays reported, not pushed again
    assert outcomes(fourth)["bob/nightly"] == "unchanged"
    assert [found.dataset for found in fourth.untrainable] == ["bob/nightly"]


def test_a_stopped_pass_is_finished_by_the_next(bucket: Bucket, tmp_path: Path) -> None:
    share = tmp_path / "share"
    write_set(share / "ada" / "cats", 200)
    write_set(share / "bob" / "cats", 100)
    rule = Rule(name="sets", root=str(share), per=Per.SET, template="{owner}/{set}")
    database = tmp_path / "state.sqlite3"
    uploads: list[str] = []

    def stop_second_upload(step: str) -> None:
        if step == "uploaded":
            uploads.append(step)
            if len(uploads) == 2:
                raise Cancelled

    with pytest.raises(Cancelled):
        a_pass(rule, bucket, database, checkpoint=stop_second_upload)
    assert list(versions(bucket)) == ["ada/cats"]
    stopped = last_report(bucket, "sets")
    assert stopped is not None and stopped.interrupted

    finished = a_pass(rule, bucket, database)
    assert outcomes(finished) == {"ada/cats": "unchanged", "bob/cats": "pushed"}


def test_a_pass_refuses_while_another_holds_the_rule(bucket: Bucket, tmp_path: Path) -> None:
    share = tmp_path / "share"
    write_set(share / "ada" / "cats", 200)
    rule = Rule(name="busy", root=str(share))
    taking = acquire(
        bucket, Mode.EXCLUSIVE, "archive pass of rule busy", scope=archive_lock_scope("busy")
    )
    held = _finish(taking)
    with held, pytest.raises(PassRunningError, match="another pass of rule busy is running on"):
        a_pass(rule, bucket, tmp_path / "state.sqlite3")
    assert versions(bucket) == {}
    assert a_pass(rule, bucket, tmp_path / "state.sqlite3").summary()["pushed"] == 1


def test_the_lock_of_a_pass_on_another_machine_is_passed_over_only_once_stale(
    bucket: Bucket, tmp_path: Path
) -> None:
    """Whether that process runs cannot be known here: its lock holds until it goes stale,
    then the next pass goes on, says whose rest it did, and removes it."""
    share = tmp_path / "share"
    write_set(share / "ada" / "cats", 200)
    rule = Rule(name="far", root=str(share))
    there = replace(
        Holder.this_process("archive pass of rule far"),
        host="far-host",
        machine="far-host/boot/ns",
        pid=999_999_999,  # no such process here: it must not matter
    )
    key = f"{lock_prefix(archive_lock_scope('far'))}exclusive-{uuid.uuid4().hex}.json"
    bucket.put_bytes(key, there.to_json())
    with pytest.raises(PassRunningError, match="another pass of rule far is running on far-host"):
        a_pass(rule, bucket, tmp_path / "state.sqlite3")
    assert versions(bucket) == {}
    (found,) = passes_in_store(bucket, "far")
    assert found.state is Liveness.LIVE
    assert found.sentence().startswith("A pass is running: started on far-host at ")

    quick = LockTiming(refresh_s=0.2, stale_s=1, poll_s=0.05)
    deadline = time.monotonic() + 30
    while passes_in_store(bucket, "far", quick)[0].state is not Liveness.STALE:
        assert time.monotonic() < deadline, "the lock did not go stale"
        time.sleep(0.2)  # the store's clock decides, not this test
    assert "did not finish: its lock was not refreshed since" in (
        passes_in_store(bucket, "far", quick)[0].sentence()
    )
    report = a_pass(rule, bucket, tmp_path / "state.sqlite3", timing=quick)
    assert report.summary()["pushed"] == 1
    assert report.continued.startswith("the pass started on far-host at ")
    assert list_locks(bucket, archive_lock_scope("far")) == []


def _finish(operation: Generator[object, None, T]) -> T:
    """The value a generator returns, once it has run through."""
    try:
        while True:
            next(operation)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad.name", "--root", "{root}"), "rule name 'bad.name' is not valid"),
        (("x", "--root", "{root}/missing"), "does not exist"),
        (("x", "--root", "{root}", "--dataset-template", "{who}/x"), "{who} is not a field"),
        (("x", "--root", "{root}", "--schedule", "61 * * * *"), "out of range (0-59)"),
        (("x", "--root", "{root}", "--per", "team"), "--per 'team': use one of"),
        (("x", "--root", ""), "--root: give the shared-drive folder"),
    ],
)
def test_rule_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = run_cli("archive", "add", *(a.replace("{root}", str(tmp_path)) for a in args))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr, done


def test_a_rule_without_a_schedule_is_added_and_not_installed(
    tmp_path: Path, private_dirs: Path
) -> None:
    added = run_cli("archive", "add", "byhand", "--root", str(tmp_path), "--schedule", "none")
    assert added.returncode == 0, added.stderr
    installed = run_cli("archive", "install", "byhand")
    assert installed.returncode == 2 and "has no schedule (none)" in installed.stderr


def test_installed_units_pass_systemd_verify(tmp_path: Path, private_dirs: Path) -> None:
    added = run_cli(
        "archive", "add", "nightly", "--root", str(tmp_path), "--schedule", "*/30 1-3 * * mon-fri"
    )
    assert added.returncode == 0, added.stdout
    installed = run_cli("archive", "install", "nightly")
    assert installed.returncode == 0, installed.stdout
    assert "systemctl --user enable --now datayard-archive-nightly.timer" in installed.stderr
    units = private_dirs / "config" / "systemd" / "user"
    timer = (units / "datayard-archive-nightly.timer").read_text()
    assert "Persistent=true" in timer
    assert "OnCalendar=Mon,Tue,Wed,Thu,Fri *-*-* 01,02,03:00,30:00" in timer
    service = (units / "datayard-archive-nightly.service").read_text()
    (start,) = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    assert start.endswith("/datayard archive run nightly")
    for flag, marker in (
        ("--print-windows", "<StartWhenAvailable>"),
        ("--print-launchd", "<key>StartCalendarInterval</key>"),
    ):
        printed = run_cli("archive", "install", "nightly", flag)
        assert printed.returncode == 0 and marker in printed.stdout
    analyze = shutil.which("systemd-analyze")
    # ./bootstrap.sh test installs it: only a run set up otherwise goes without.
    assert analyze is not None or not os.environ.get("CI"), "systemd-analyze is missing"
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    verified = subprocess.run(
        [analyze, "verify", *(str(p) for p in sorted(units.iterdir()))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr


def test_list_says_whether_the_timer_is_installed_and_edit_changes_a_rule(
    tmp_path: Path, private_dirs: Path
) -> None:
    root = str(tmp_path)
    assert run_cli("archive", "add", "drive", "--root", root, "--exclude", "tmp*").returncode == 0
    listed = run_cli("archive", "list")
    assert listed.returncode == 0, listed.stderr
    assert "daily; timer not installed" in " ".join(listed.stderr.split())
    assert run_cli("archive", "install", "drive").returncode == 0
    listed = run_cli("archive", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (timer,) = [rule["timer"] for rule in json.loads(listed.stdout)]
    assert timer["installed"] is True and timer["stale"] == ""

    edited = run_cli("archive", "edit", "drive", "--schedule", "hourly", "--exclude", "")
    assert edited.returncode == 0, edited.stderr
    assert "Changed archive rule drive" in edited.stderr
    assert "it runs an older schedule: datayard archive install drive" in edited.stderr
    listed = run_cli("archive", "list")
    said = " ".join(listed.stderr.split())  # as a narrower terminal folds it, too
    assert f"drive: {root}, a dataset per person named {{owner}}/{{set}}, hourly; " in said
    assert "; timer installed" in said and "; it runs an older schedule" in said
    missing = run_cli("archive", "edit", "nothing", "--schedule", "none")
    assert missing.returncode == 2 and "no archive rule 'nothing'" in missing.stderr


@pytest.mark.usefixtures("secret_service")
def test_the_command_runs_a_pass_and_shows_its_report(
    s3_server: S3Server, bucket: Bucket, tmp_path: Path
) -> None:
    add_profile(s3_server, bucket)
    write_set(tmp_path / "share" / "ada" / "cats", 200)
    root = str(tmp_path / "share")
    assert run_cli("archive", "add", "drive", "--root", root, "--profile", "lab").returncode == 0
    ran = run_cli("archive", "run", "drive")
    assert ran.returncode == 0, ran.stderr
    assert "pushed ada/drive" in ran.stderr and "1 pushed" in ran.stderr
    shown = run_cli("archive", "show", "drive")
    assert shown.returncode == 0, shown.stderr
    assert "Pass of rule drive" in shown.stderr and "pushed ada/drive" in shown.stderr
    missing = run_cli("archive", "run", "nothing")
    assert missing.returncode == 2 and "no archive rule 'nothing'" in missing.stderr


@pytest.mark.usefixtures("secret_service")
def test_a_killed_pass_is_continued_by_the_next(
    s3_server: S3Server, bucket: Bucket, store_proxy: StoreProxy, tmp_path: Path
) -> None:
    """`archive run` killed with SIGKILL once it has published ada's version and uploads
    bob's: its lock stays in the store; the next pass on this machine is not refused by it,
    publishes bob's version once and leaves ada's alone."""
    add_profile(s3_server, bucket, endpoint=store_proxy.endpoint)
    share = tmp_path / "share"
    write_set(share / "ada" / "cats", 200)
    write_set(share / "bob" / "cats", 100)
    added = run_cli(
        "archive", "add", "drive", "--root", str(share), "--profile", "lab", "--schedule", "none"
    )
    assert added.returncode == 0, added.stderr
    bobs_image = hashlib.sha256((share / "bob/cats/images/train/a.png").read_bytes()).hexdigest()
    hold = store_proxy.hold(request_to("PUT", blob_key(bobs_image)))
    killed = subprocess.Popen(
        datayard_command("archive", "run", "drive", "--workers", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    kill_at(killed, hold)
    published = versions(bucket)
    assert {name: len(ids) for name, ids in published.items()} == {"ada/drive": 1}
    (lock,) = list_locks(bucket, archive_lock_scope("drive"))  # nothing removed it
    assert lock.holder is not None and lock.holder.pid == killed.pid

    shown = run_cli("archive", "show", "drive")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    (said,) = [line for line in shown.stderr.splitlines() if "did not finish" in line]
    assert f"(process {killed.pid}) did not finish: its process ended without" in said
    assert "No pass yet" not in shown.stderr

    ran = run_cli("archive", "run", "drive")
    assert ran.returncode == 0, ran.stderr
    assert "unchanged ada/drive" in ran.stderr and "pushed bob/drive" in ran.stderr
    assert f"(process {killed.pid}) did not finish; this one took over" in ran.stderr
    after = versions(bucket)
    assert after["ada/drive"] == published["ada/drive"] and len(after["bob/drive"]) == 1
    bob = Catalog(bucket).newest("bob", "drive")
    assert bob is not None and len(bob.files) == 6
    assert {
        Path(f.source).relative_to(share / "bob"): bucket.get_bytes(blob_key(f.sha256))
        for f in bob.files
    } == {
        path.relative_to(share / "bob"): path.read_bytes()
        for path in (share / "bob").rglob("*.*")
        if path.name != "data.yaml"  # its class names are the manifest's own field
    }
    report = last_report(bucket, "drive")
    assert report is not None and outcomes(report) == {
        "ada/drive": "unchanged",
        "bob/drive": "pushed",
    }
    assert f"(process {killed.pid}) did not finish" in report.continued
    assert list_locks(bucket, archive_lock_scope("drive")) == []
    assert list(bucket.objects(PUSHES)) == []  # the killed push's marker went with bob's
    shown = run_cli("archive", "show", "drive", "--json")
    assert json.loads(shown.stdout)["passes_without_report"] == []
