"""Runs through the store: how soon a stop written there ends a worker, how soon a worker's
events reach a follower, and how many requests one training worker adds to the store.

    .venv/bin/python tests/benchmarks/bench_store_control.py [--rounds 4] [--window 30]
        [--runs 100] [--keep DIR]

Why a script and not a test: these are durations and rates of real trainings on
a shared machine; the tests check what happens, this measures how fast. Each
round runs a worker as a cluster's pod runs it (``datayard worker --from-store``
with only the Job's environment: tests/fixtures/pods.py) against Datayard's
embedded SeaweedFS on 127.0.0.1, training the tests' shapes dataset on the CPU.
The worker reaches the store through the proxy of the tests
(tests/fixtures/store_proxy.py), which counts its requests; the follower and
the stop reach it directly.

* Event latency: a follower reads the run's events from the store as ``datayard
  logs --follow`` does (:func:`stored_runs.follow`, every 2 s); each event's
  latency is from its ``time`` (the worker's clock as it emitted it, this
  machine's) to when the follower yields it (it reads every second).
* Requests per minute: every request the worker makes during ``--window``
  seconds of training (after its first epoch, the dataset pulled), by kind.
* Stop and pause latency, rounds alternating: from writing ``stop`` or
  ``pause`` to ``runs/<id>/control`` to the worker's ending readable in the
  store (read every 50 ms); to the ending's own time (the worker had stopped,
  validated and saved); and to the last batch the worker trained (the hooks
  read the request after each batch), which is what the store adds. Then a
  stop and a pause through the run's control file, as on the machine of a
  local run, for comparison.
* One store, 100 runs: 100 control watches (each with its own client, asking
  every second, as 100 workers do) and 100 writers of a 1 KiB events chunk
  every 2 s, on the same SeaweedFS; then ``stop`` written for all 100 at once,
  and how soon each watch has it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.measure import finish, private_services, progress, work_folder

if TYPE_CHECKING:
    from datayard.core.store.bucket import Bucket
    from datayard.core.training.protocol import Record
    from tests.fixtures.services import S3Server
    from tests.fixtures.store_proxy import StoreProxy
    from tests.fixtures.training import TrainingStore

GOAL_S = 3.0
CONCURRENT_RUNS = 100
EPOCHS = 1000
"""More than a round trains: every round ends by its stop."""


@dataclass
class Round:
    latencies: list[float] = field(default_factory=list)
    per_minute: Counter[str] = field(default_factory=Counter)
    control: str = "stop"
    through: str = "the store"
    seen_s: float = 0.0
    """Written -> the ending readable in the store."""
    ended_s: float = 0.0
    """Written -> the ending's time: the worker had stopped (and saved)."""
    noticed_s: float = 0.0
    """Written -> the last batch the worker trained, after which it read the request."""
    epoch_seconds: list[float] = field(default_factory=list)


def kind(method: str, path: str) -> str:
    """What a worker's request is for, from its method and path."""
    where = path.split("?")[0]
    if where.endswith("/control"):
        return f"control {method}"
    if "/events/" in where:
        return f"events {method}"
    if "/artifacts/" in where or where.endswith("/spec.json"):
        return f"files {method}"
    return f"other {method}"


def one_round(
    store: TrainingStore, proxy: StoreProxy, folder: Path, window_s: float, control: str
) -> Round:
    from datayard.core.training import stored_control, stored_runs
    from datayard.core.training.protocol import Epoch
    from datayard.core.training.runs import Control
    from tests.fixtures.pods import launched_on_cluster, start_pod, stored_records

    result = Round(control=control)
    run_id = launched_on_cluster(store, epochs=EPOCHS).run_id
    pod = start_pod(store, run_id, folder, endpoint=proxy.endpoint)
    cancel = threading.Event()
    first_epoch = threading.Event()

    def follow() -> None:
        try:
            for record in stored_runs.follow(store.bucket, run_id, cancel):
                result.latencies.append(time.time() - record.event.time)
                if isinstance(record.event, Epoch):
                    result.epoch_seconds.append(record.event.seconds)
                    first_epoch.set()
        except Exception:  # cancelled at the end of the round
            return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        if not first_epoch.wait(600):
            raise RuntimeError(f"no epoch in 600 s; the pod said:\n{pod.output()}")
        before = len(proxy.requests(lambda method, path: True))
        time.sleep(window_s)  # the window over which the worker's requests are counted
        requests = proxy.requests(lambda method, path: True)[before:]
        for method, path in requests:
            result.per_minute[kind(method, path)] += 1
        for name in result.per_minute:
            result.per_minute[name] = round(result.per_minute[name] * 60 / window_s)

        asked = time.time()
        stored_control.request(store.bucket, run_id, Control(control))
        wait_for_ending(
            lambda: stored_records(store, run_id), asked, result, lambda: pod.process.poll() is None
        )
        pod.wait()
    finally:
        cancel.set()
        if pod.process.poll() is None:
            pod.process.kill()
        follower.join(10)
    return result


def wait_for_ending(
    read: Callable[[], list[Record]], asked: float, result: Round, alive: Callable[[], bool]
) -> None:
    """Read the run's events every 50 ms until its ending, and time it from ``asked``."""
    from datayard.core.training.protocol import Batch

    while True:
        records = read()
        if records and records[-1].event.TERMINAL:
            result.seen_s = time.time() - asked
            result.ended_s = records[-1].event.time - asked
            batches = [r.event for r in records if isinstance(r.event, Batch)]
            result.noticed_s = max(0.0, batches[-1].time - asked)
            return
        if not alive():
            raise RuntimeError("the worker ended without its ending")
        time.sleep(0.05)


def file_round(store: TrainingStore, control: str) -> Round:
    """The same request through the run's control file, on the machine of its worker."""
    from datayard.core.training.protocol import Epoch
    from datayard.core.training.runs import Control, EventLog

    result = Round(control=control, through="its control file")
    backend = store.backend
    folder = backend.launch(store.spec(epochs=EPOCHS), store.ref)
    while not any(isinstance(r.event, Epoch) for r in EventLog(folder.events_file).read_new()):
        if not backend.alive(folder):
            raise RuntimeError(f"the worker ended:\n{folder.output_file.read_text()[-3000:]}")
        time.sleep(0.2)
    asked = time.time()
    folder.request(Control(control))
    read = EventLog(folder.events_file)
    records: list[Record] = []

    def new_records() -> list[Record]:
        records.extend(read.read_new())
        return records

    wait_for_ending(new_records, asked, result, lambda: backend.alive(folder))
    while backend.alive(folder):
        time.sleep(0.2)
    return result


def spread(values: Sequence[float], what: str = "events") -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (
        f"median {statistics.median(ordered):.2f} s, p90 {p90:.2f} s, "
        f"max {ordered[-1]:.2f} s ({len(ordered)} {what})"
    )


def verdict(value: float) -> str:
    return f"goal < {GOAL_S:g} s: {'met' if value < GOAL_S else 'NOT MET'}"


def report(rounds: list[Round], window_s: float) -> None:
    latencies = [value for r in rounds for value in r.latencies]
    print(f"\nevent latency, worker emits -> follower reads it from the store: {spread(latencies)}")
    print(f"  median {verdict(statistics.median(latencies))}")
    for control, through in itertools.product(("stop", "pause"), ("the store", "its control file")):
        done = [r for r in rounds if (r.control, r.through) == (control, through)]
        if not done:
            continue
        seen = [r.seen_s for r in done]
        where = "the store" if through == "the store" else "the run's events file"
        print(
            f"{control} through {through}, request written -> ending in {where}: "
            + ", ".join(f"{value:.2f} s" for value in seen)
            + f"  median {verdict(statistics.median(seen))}"
        )
        for what, values in (
            ("the worker's last batch, after which it read it", [r.noticed_s for r in done]),
            ("the ending's time (stopped, validated, saved)", [r.ended_s for r in done]),
        ):
            shown = ", ".join(f"{value:.2f} s" for value in values)
            print(f"  to {what}: {shown}")
    names = sorted({name for r in rounds for name in r.per_minute})
    print(f"\nrequests per minute of one worker, over {window_s:g} s of training (median):")
    totals = []
    for name in names:
        print(f"  {name:16} {statistics.median(r.per_minute[name] for r in rounds):6.0f}")
    for r in rounds:
        totals.append(sum(r.per_minute.values()))
    total = statistics.median(totals)
    epochs = statistics.median(value for r in rounds for value in r.epoch_seconds)
    print(f"  {'total':16} {total:6.0f}   (epochs of {epochs:.1f} s here: results.csv per epoch)")
    print(
        f"  {CONCURRENT_RUNS} such workers: {total * CONCURRENT_RUNS:.0f} requests per minute, "
        f"{total * CONCURRENT_RUNS / 60:.0f} per second"
    )


@dataclass
class Crowd:
    noticed: list[float] = field(default_factory=list)
    writes: int = 0
    seconds: float = 0.0


def crowd(server: S3Server, runs: int, seconds: float) -> Crowd:
    """``runs`` workers' store traffic at once, without their training: a control watch
    and an events writer each; then a stop for every run, and how soon each watch has it."""
    from datayard.core.training import stored_control
    from datayard.core.training.mirror import events_key
    from datayard.core.training.runs import Control
    from datayard.core.training.stored_control import ControlWatch
    from tests.fixtures.datasets import fresh_bucket

    bucket = fresh_bucket(server)
    ids = [f"20261207-000000-{index:06x}" for index in range(runs)]
    watches = [ControlWatch(fresh_view(bucket, server), run_id) for run_id in ids]
    result = Crowd()
    closing = threading.Event()
    lock = threading.Lock()

    def write(run_id: str) -> None:
        own = fresh_view(bucket, server)
        seq = 0
        while not closing.wait(2.0):
            own.put_bytes(events_key(run_id, seq), b"x" * 1023 + b"\n")
            seq += 1
            with lock:
                result.writes += 1

    writers = [threading.Thread(target=write, args=(run_id,), daemon=True) for run_id in ids]
    for writer in writers:
        writer.start()
    started = time.monotonic()
    time.sleep(seconds)  # the crowd's steady traffic, before the stops
    written = {}
    for run_id in ids:
        stored_control.request(bucket, run_id, Control.STOP)
        written[run_id] = time.monotonic()
    waiting = dict(zip(ids, watches, strict=True))
    deadline = time.monotonic() + 60
    while waiting and time.monotonic() < deadline:
        for run_id, watch in list(waiting.items()):
            if watch.requested() is Control.STOP:
                result.noticed.append(time.monotonic() - written[run_id])
                del waiting[run_id]
        time.sleep(0.01)
    closing.set()
    result.seconds = time.monotonic() - started
    for watch in watches:
        watch.close()
    if waiting:
        raise RuntimeError(f"{len(waiting)} watches never saw their stop")
    return result


def fresh_view(bucket: Bucket, server: S3Server) -> Bucket:
    """The bucket through a client of its own, as each worker has."""
    from datayard.core.store.bucket import Bucket

    return Bucket(bucket.profile, server.secret, connections=2)


def report_crowd(result: Crowd, runs: int) -> None:
    print(
        f"\none store, {runs} runs at once (a control watch and an events writer each): "
        f"{result.writes / result.seconds:.0f} chunks written per second beside {runs} "
        "watches asking every second"
    )
    print(f"  stop written -> each watch has it: {spread(result.noticed, 'watches')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="trainings, stop and pause")
    parser.add_argument("--runs", type=int, default=100, help="runs at once on one store")
    parser.add_argument("--window", type=float, default=30.0, help="seconds counted")
    parser.add_argument("--keep", type=Path, help="work in a new folder under DIR and keep it")
    arguments = parser.parse_args()
    if arguments.rounds < 1 or arguments.window <= 0:
        parser.error("--rounds must be at least 1 and --window positive")
    work = work_folder(arguments.keep, "datayard-bench-store-control-")
    started = time.perf_counter()
    load = os.getloadavg()
    rounds: list[Round] = []
    with ExitStack() as services:
        server = private_services(work, services)
        from tests.fixtures.store_proxy import StoreProxy
        from tests.fixtures.training import shapes_with_profile

        progress("publishing the shapes dataset", started)
        store = shapes_with_profile(server)
        proxy = StoreProxy(server.endpoint)
        services.callback(proxy.close)
        for index in range(1, arguments.rounds + 1):
            progress(f"round {index}/{arguments.rounds}", started)
            control = "stop" if index % 2 else "pause"
            folder = work / f"round-{index}"
            rounds.append(one_round(store, proxy, folder, arguments.window, control))
        for control in ("stop", "pause"):
            progress(f"{control} through the control file, for comparison", started)
            rounds.append(file_round(store, control))
        progress(f"{arguments.runs} runs on one store", started)
        crowded = crowd(server, arguments.runs, arguments.window)
    print(
        f"\ncores: {os.cpu_count()}; load average before: "
        f"{', '.join(f'{v:.2f}' for v in load)}, after: "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(
        "spec: shapes dataset (16 train + 8 val images of 96 px), batch 4, imgsz 64, "
        "workers 0, cpu, no plots; control asked every 1 s, events stored every 2 s, "
        "the follower reading every 1 s"
    )
    report(rounds, arguments.window)
    report_crowd(crowded, arguments.runs)
    finish(work, arguments.keep, started)


if __name__ == "__main__":
    main()
