"""The Kubernetes backend: a run is a Job on a cluster, whose worker reads its spec from
the store and mirrors its events and files there.

Launching writes the run's record to the store (``runs/<run-id>/spec.json``, where the
worker reads it), applies the profile's Secret, submits the Job, then keeps the run's
folder here with the backend ``k8s:<cluster>``. Nothing of the run reaches this machine
but through the store: its folder's events are a copy of the stored ones, brought up to
date as it is followed or listed (:mod:`.stored_runs`), and stop and pause are requests
written there (:mod:`.stored_control`). Deleting the Job ends it at once
(:meth:`ClusterBackend.kill`); resuming submits a new Job for the same run, rendered as
the first was, whose worker goes on from the store's checkpoint by itself
(:mod:`.store_start`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from datayard.core.checks import Check, State
from datayard.core.clusters.api import ClusterApi
from datayard.core.clusters.job_status import JobStatus
from datayard.core.clusters.manifests import (
    as_yaml,
    job_manifest,
    job_name,
    redacted,
    secret_manifest,
)
from datayard.core.clusters.registry import Cluster, ClusterRegistry
from datayard.core.errors import ClusterConfigError, ClusterError, UsageError
from datayard.core.hosts.probe import is_loopback
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Connection, Workspace
from datayard.core.training import credentials, stored_control, stored_runs
from datayard.core.training.job_watch import WORKER_GONE, JobWatch, store_ending, with_job
from datayard.core.training.mirror import events_key, run_key
from datayard.core.training.protocol import RESUMING, Failed, Preparing, TrainingEvent
from datayard.core.training.runs import (
    RunFolder,
    RunRecord,
    RunRegistry,
    RunSummary,
    check_resumable,
    new_record,
)
from datayard.core.training.spec import TrainSpec
from datayard.core.training.stored_runs import (
    CLUSTER_PREFIX,
    SPEC_NAME,
    ClusterResume,
    StoredRun,
    cluster_named,
    put_record,
)
from datayard.core.training.through_store import ThroughStore, catch_up, store_bucket

log = logging.getLogger(__name__)

LISTING_TIMEOUT_S = (2.0, 3.0)
"""How long listing runs waits for a cluster's API server (to connect, for each answer):
a cluster that does not answer in time leaves its runs as the store tells them."""
POD_END_WAIT_S = 60.0
"""How long a kill waits for the run's pod to be gone before it stores the run's end."""
KILLED = "killed at the user's request"


def cluster_of(folder: RunFolder) -> str | None:
    """The cluster a run was launched on, or None for a run of another backend."""
    return cluster_named(folder.record().backend)


@dataclass(frozen=True)
class Submission:
    """What a launch sends to the cluster for one run."""

    record: RunRecord
    secret: dict[str, Any]
    job: dict[str, Any]

    def shown(self) -> str:
        """Both objects as YAML, the Secret's credentials redacted."""
        return as_yaml([redacted(self.secret), self.job])


def store_check(endpoint: str) -> Check:
    """Whether the cluster's pods can reach the store, as far as this computer can tell."""
    if is_loopback(endpoint):
        return Check(
            "store",
            State.FAIL,
            f"{endpoint} is this computer's loopback, which no pod reaches",
            "train with a profile whose store the cluster reaches (--profile)",
        )
    return Check(
        "store",
        State.OK,
        f"pods are given {endpoint} (reaching it from inside the cluster is not checked here)",
    )


def check_cluster(cluster: Cluster, store_endpoint: str) -> Iterator[Check]:
    """``cluster test``: the kubeconfig, the API server, the permissions, the GPUs, then
    the store as the pods will be told of it."""
    try:
        api = ClusterApi(cluster)
    except ClusterConfigError as error:
        yield Check("kubeconfig", State.FAIL, error.message, error.hint)
        return
    with api:
        yield from api.check()
    yield store_check(store_endpoint)


class ClusterBackend(ThroughStore):
    """Launches runs as Jobs on the clusters of ``clusters``, and follows and controls them
    through the store of their profile, asking their Jobs while the store is quiet."""

    def __init__(
        self, registry: RunRegistry, clusters: ClusterRegistry, workspace: Workspace
    ) -> None:
        super().__init__(registry, workspace)
        self.clusters = clusters
        self.watch_timing: dict[str, float] = {}
        """:class:`JobWatch`'s timing, when not its own."""

    def plan(
        self,
        spec: TrainSpec,
        dataset: str,
        cluster_name: str,
        *,
        gpus: int = 0,
        cloned_from: str | None = None,
        secret: bytes = b"",
    ) -> Submission:
        """The objects a launch would send, for a new run; ``secret`` is the credentials
        document (none for a dry run, whose Secret is only shown redacted)."""
        spec.validated()
        if gpus < 0:
            raise UsageError(f"--gpus {gpus}: give a number of GPUs, 0 or more")
        cluster = self.clusters.get(cluster_name)
        profile = spec.profile or self.workspace.settings().default_profile
        record = new_record(
            spec,
            dataset,
            f"{CLUSTER_PREFIX}{cluster.name}",
            cloned_from=cloned_from,
            gpus=gpus,
            name=self.registry.next_name(spec, dataset),
        )
        return self._submission(cluster, record, profile, secret)

    def launch(
        self,
        spec: TrainSpec,
        dataset: str,
        cluster_name: str,
        *,
        gpus: int = 0,
        cloned_from: str | None = None,
    ) -> RunFolder:
        """Submit a run; nothing of it is kept (here or in the store) when the cluster
        refuses it."""
        connection = self.workspace.connect(spec.profile)
        plan = self.plan(
            spec,
            dataset,
            cluster_name,
            gpus=gpus,
            cloned_from=cloned_from,
            secret=credentials.encode(connection),
        )
        bucket = store_bucket(connection)
        put_record(bucket, plan.record)
        try:
            with ClusterApi(self.clusters.get(cluster_name)) as api:
                _send(api, plan)
        except BaseException:
            bucket.remove([run_key(plan.record.run_id, SPEC_NAME)])
            raise
        return self.registry.add(plan.record)

    def resume(self, folder: RunFolder) -> None:
        """Submit a new Job for the run, once its copy here is the store's; the copy then
        has the ``resuming`` event stored for the new worker."""
        record = folder.record()
        connection = self.workspace.connect(record.spec.profile)
        bucket = store_bucket(connection)
        catch_up(folder, bucket)
        self._resubmit(record, folder.summary(), connection, bucket)
        catch_up(folder, bucket)

    def resume_stored(self, how: ClusterResume, profile: str | None = None) -> int:
        """Submit a new Job for a run found in the store of ``profile``; the sequence number
        of the run's ``resuming`` event, which the new worker's follow."""
        connection = self.workspace.connect(profile)
        run = how.run
        return self._resubmit(run.record, run.summary, connection, store_bucket(connection))

    def watch(self, run_id: str, backend: str, bucket: Bucket) -> JobWatch | None:
        """What a follower of the run asks its Job while the store has nothing new; none
        for a run of a machine, or of a cluster this machine has no profile of."""
        cluster = next((c for c in self.clusters.all() if c.name == cluster_named(backend)), None)
        if cluster is None:
            return None
        return JobWatch(
            lambda: ClusterApi(cluster, LISTING_TIMEOUT_S),
            bucket,
            run_id,
            **self.watch_timing,
        )

    def quiet(self, folder: RunFolder, bucket: Bucket) -> JobWatch | None:
        return self.watch(folder.run_id, folder.record().backend, bucket)

    def status(self, folder: RunFolder) -> JobStatus:
        """The run's Job and pod as the cluster tells them now."""
        with self._api(folder) as api:
            return api.job_status(job_name(folder.run_id), folder.run_id)

    def statuses(self, folders: list[RunFolder]) -> dict[str, JobStatus]:
        """The Jobs of those of ``folders`` that are runs of this machine's clusters, by run
        id, each cluster asked with a short wait: one that does not answer is asked nothing
        more, and its runs are left out."""
        found: dict[str, JobStatus] = {}
        unanswered: set[str] = set()
        known = {cluster.name: cluster for cluster in self.clusters.all()}
        for folder in folders:
            name = cluster_of(folder)
            if name not in known or name in unanswered:
                continue
            try:
                with ClusterApi(known[name], LISTING_TIMEOUT_S) as api:
                    found[folder.run_id] = api.job_status(job_name(folder.run_id), folder.run_id)
            except (ClusterError, UsageError) as error:
                log.warning("cluster %r: %s", name, error)
                unanswered.add(name)
        return found

    def kill(self, folder: RunFolder, reason: str = KILLED) -> None:
        """Delete the run's Job, ending its pod wherever it is; once the pod is gone, the
        run's failure is stored, and copied here."""
        bucket = self.bucket(folder)
        with self._api(folder) as api:
            _end(api, bucket, folder.run_id, reason)
        catch_up(folder, bucket)

    def kill_stored(
        self,
        run: StoredRun,
        profile: str | None = None,
        reason: str = "killed at the user's request",
    ) -> None:
        """As :meth:`kill`, for a run found in the store of ``profile``."""
        name = cluster_named(run.record.backend)
        if name is None:
            raise UsageError(
                f"run {run.run_id} is not on this machine: --kill ends only workers here and "
                f"Jobs of clusters; `datayard stop {run.run_id}` asks its worker through the store"
            )
        connection = self.workspace.connect(profile)
        with ClusterApi(self.clusters.get(name)) as api:
            _end(api, store_bucket(connection), run.run_id, reason)

    def _resubmit(
        self, record: RunRecord, summary: RunSummary, connection: Connection, bucket: Bucket
    ) -> int:
        """Send the run's Secret and a new Job, as its launch did, once the run is found
        resumable: by its stored ending, or when it has none, by its Job, whose worker must
        have ended (that worker's failure is stored first). The ``resuming`` event is
        stored before the Job is sent, and removed again when the cluster refuses it; its
        sequence number is returned."""
        name = cluster_named(record.backend)
        if name is None:
            raise UsageError(f"run {record.run_id} does not train on a cluster")
        if summary.status.ended:
            check_resumable(record.run_id, summary)
        cluster = self.clusters.get(name)
        plan = self._submission(
            cluster, record, connection.profile.name, credentials.encode(connection)
        )
        told: list[TrainingEvent] = []
        with ClusterApi(cluster) as api:
            if not summary.status.ended:
                job = api.job_status(job_name(record.run_id), record.run_id)
                if job.phase not in WORKER_GONE:
                    raise UsageError(
                        f"run {record.run_id} is still {summary.status.value} on cluster "
                        f"{name!r} (its Job is {job.phase.lower()}): pause or stop it first"
                    )
                vanished = with_job(summary, job)
                check_resumable(record.run_id, vanished)
                told.append(Failed(reason=vanished.reason, message=vanished.message))
            stored_control.clear(bucket, record.run_id)
            # The ended Job keeps the run's name until Kubernetes removes it.
            api.delete_job(job_name(record.run_id))
            stored = stored_runs.put_events(
                bucket, record.run_id, [*told, Preparing(phase=RESUMING)]
            )
            try:
                _send(api, plan)
            except BaseException:
                bucket.remove([events_key(record.run_id, stored[0].seq)])
                raise
        log.info("run %s resumed as a new Job on cluster %s", record.run_id, name)
        return stored[-1].seq

    def _submission(
        self, cluster: Cluster, record: RunRecord, profile: str, secret: bytes
    ) -> Submission:
        """The Secret and Job of ``record``'s run, whose pods reach the store of ``profile``."""
        check = store_check(self.workspace.endpoint(profile))
        if check.state is State.FAIL:
            raise UsageError(f"{cluster.shown}: {check.detail}; {check.hint}")
        return Submission(
            record,
            secret_manifest(cluster, profile, secret),
            job_manifest(cluster, record.run_id, profile, record.gpus),
        )

    def _api(self, folder: RunFolder) -> ClusterApi:
        name = cluster_of(folder)
        if name is None:
            raise UsageError(f"run {folder.run_id} does not train on a cluster")
        return ClusterApi(self.clusters.get(name))


def _send(api: ClusterApi, plan: Submission) -> None:
    api.apply_secret(plan.secret)
    api.submit_job(plan.job)


def _end(api: ClusterApi, bucket: Bucket, run_id: str, reason: str) -> None:
    """Delete the run's Job; store the run's failure once its pod is gone (its worker can
    store nothing more), or after :data:`POD_END_WAIT_S` when it lingers on a lost node."""
    api.delete_job(job_name(run_id))
    deadline = time.monotonic() + POD_END_WAIT_S
    while api.pods(run_id) and time.monotonic() < deadline:
        time.sleep(1.0)
    store_ending(bucket, run_id, Failed(reason="killed", message=reason))
