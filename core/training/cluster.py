"""The Kubernetes backend: a run is a Job on a cluster, whose worker reads its spec from
the store and mirrors its events and files there.

Launching writes the run's record to the store (``runs/<run-id>/spec.json``, where the
worker reads it), applies the profile's Secret, submits the Job, then keeps the run's
folder here with the backend ``k8s:<cluster>``. Following a cluster run and asking its
worker to stop or pause go through the store (the worker's mirror and control object);
deleting the Job ends it at once, as :meth:`ClusterBackend.kill` does.
"""

from __future__ import annotations

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
from datayard.core.errors import ClusterConfigError, UsageError
from datayard.core.hosts.probe import is_loopback
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.core.training import credentials
from datayard.core.training.mirror import run_key
from datayard.core.training.protocol import Failed
from datayard.core.training.runs import RunFolder, RunRecord, RunRegistry, new_record
from datayard.core.training.spec import TrainSpec

BACKEND_PREFIX = "k8s:"


def cluster_of(folder: RunFolder) -> str | None:
    """The cluster a run was launched on, or None for a run of another backend."""
    backend = folder.record().backend
    return backend.removeprefix(BACKEND_PREFIX) if backend.startswith(BACKEND_PREFIX) else None


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


class ClusterBackend:
    """Launches runs as Jobs on the clusters of ``clusters``."""

    def __init__(
        self, registry: RunRegistry, clusters: ClusterRegistry, workspace: Workspace
    ) -> None:
        self.registry = registry
        self.clusters = clusters
        self.workspace = workspace

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
        check = store_check(self.workspace.endpoint(profile))
        if check.state is State.FAIL:
            raise UsageError(f"{cluster.shown}: {check.detail}; {check.hint}")
        record = new_record(
            spec, dataset, f"{BACKEND_PREFIX}{cluster.name}", cloned_from=cloned_from
        )
        return Submission(
            record,
            secret_manifest(cluster, profile, secret),
            job_manifest(cluster, record.run_id, profile, gpus),
        )

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
        bucket = Bucket(connection.profile, connection.secret)
        key = run_key(plan.record.run_id, "spec.json")
        bucket.put_bytes(key, plan.record.to_json().encode(), content_type="application/json")
        try:
            with ClusterApi(self.clusters.get(cluster_name)) as api:
                api.apply_secret(plan.secret)
                api.submit_job(plan.job)
        except BaseException:
            bucket.remove([key])
            raise
        return self.registry.add(plan.record)

    def status(self, folder: RunFolder) -> JobStatus:
        """The run's Job and pod as the cluster tells them now."""
        with self._api(folder) as api:
            return api.job_status(job_name(folder.run_id), folder.run_id)

    def kill(self, folder: RunFolder, reason: str = "killed at the user's request") -> None:
        """Delete the run's Job, ending its pod wherever it is; the run is failed."""
        with self._api(folder) as api:
            api.delete_job(job_name(folder.run_id))
        folder.append(Failed(reason="killed", message=reason))

    def _api(self, folder: RunFolder) -> ClusterApi:
        name = cluster_of(folder)
        if name is None:
            raise UsageError(f"run {folder.run_id} does not train on a cluster")
        return ClusterApi(self.clusters.get(name))
