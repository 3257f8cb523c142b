"""Every backend behind one face: each run goes to the backend that launched it.

The CLI and the app list, follow and control runs without knowing where they
train; only a launch names the place (this computer, a host, or a cluster). Nothing
here reaches a host to list runs: a host's run's status is that of its copy on this
machine, which following it brings up to date; a cluster's run's copy is brought up
to date from the store as it is listed, and its Job is asked only on request
(:meth:`Backends.jobs`), with a short wait. The runs this machine did not launch
have copies of their own (:meth:`Backends.store_copies`), outside its registry.
"""

from __future__ import annotations

from collections.abc import Iterator

from datayard.core.clusters.job_status import JobStatus
from datayard.core.clusters.registry import ClusterRegistry
from datayard.core.errors import DatayardError, UsageError
from datayard.core.events import CancelToken
from datayard.core.hosts.login import login
from datayard.core.hosts.probe import HostFacts, probe
from datayard.core.hosts.registry import LOCAL_HOST, HostRegistry
from datayard.core.store.workspace import Workspace
from datayard.core.training.cluster import ClusterBackend, cluster_of
from datayard.core.training.local import LocalBackend
from datayard.core.training.other_machines import OtherMachines
from datayard.core.training.protocol import Record
from datayard.core.training.runs import RunFolder, RunRecord, RunRegistry, RunSummary
from datayard.core.training.spec import TrainSpec
from datayard.core.training.ssh import SshBackend, host_of
from datayard.core.training.stored_runs import has_record, put_record
from datayard.core.training.through_store import store_bucket


class Backends:
    def __init__(
        self,
        local: LocalBackend,
        ssh: SshBackend,
        cluster: ClusterBackend,
        others: OtherMachines,
        workspace: Workspace,
    ) -> None:
        self.local = local
        self.ssh = ssh
        self.cluster = cluster
        self.others = others
        self._workspace = workspace
        """Whose profiles name the stores that hosts are asked about."""

    @classmethod
    def of(cls, workspace: Workspace, registry: RunRegistry | None = None) -> Backends:
        """The backends of ``workspace``, keeping runs in its data folder or in ``registry``."""
        runs = registry or RunRegistry(workspace.dirs.data / "runs")
        return cls(
            LocalBackend(runs),
            SshBackend(
                runs, HostRegistry(workspace.dirs.config), workspace.connect, workspace.secrets
            ),
            ClusterBackend(runs, ClusterRegistry(workspace.dirs.config), workspace),
            OtherMachines(workspace.dirs.cache / "store-runs", workspace),
            workspace,
        )

    @classmethod
    def default(cls) -> Backends:
        return cls.of(Workspace.default())

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    @property
    def registry(self) -> RunRegistry:
        return self.local.registry

    @property
    def hosts(self) -> HostRegistry:
        return self.ssh.hosts

    def probe(self, host: str, profile: str | None = None) -> HostFacts:
        """What ``host`` offers a run whose store is ``profile``'s (or the default one's):
        its GPUs, whether it reaches that store by itself, its worker environment."""
        target = self.hosts.get(host)
        with login(target, self.ssh.secrets) as connection:
            return probe(connection, target, self._workspace.endpoint(profile))

    def launch(
        self,
        spec: TrainSpec,
        dataset: str,
        *,
        host: str | None = None,
        cloned_from: str | None = None,
        detached: bool = False,
        gpus: int = 0,
    ) -> RunFolder:
        """Start ``spec`` on this computer, or on ``host``: the name of a host (``datayard
        host``) or of a cluster (``datayard cluster``), whose Job gets ``gpus`` GPUs."""
        if host is None or host == LOCAL_HOST:
            return self.local.launch(spec, dataset, cloned_from=cloned_from)
        if self.is_cluster(host):
            return self.cluster.launch(spec, dataset, host, gpus=gpus, cloned_from=cloned_from)
        return self.ssh.launch(spec, dataset, host, cloned_from=cloned_from, detached=detached)

    def is_cluster(self, name: str) -> bool:
        """Whether ``name`` is a cluster's (a name is never both a host's and a cluster's)."""
        return any(cluster.name == name for cluster in self.cluster.clusters.all())

    def where(self, folder: RunFolder) -> str:
        """The host or cluster a run trains on, ``local`` for this computer; for a copy of
        another machine's run, that machine's word for it."""
        if self.others.holds(folder) and cluster_of(folder) is None:
            return self.others.where(folder)
        return host_of(folder) or cluster_of(folder) or LOCAL_HOST

    def trained_here(self, folder: RunFolder) -> bool:
        """Whether the run's files are on this computer (its weights among them): a run this
        machine launched here, not on a host or cluster, nor another machine's copy."""
        return not self.others.holds(folder) and self.where(folder) == LOCAL_HOST

    def store_copies(
        self, profile: str | None = None, cancel: CancelToken | None = None
    ) -> list[RunFolder]:
        """Copies of the runs in the store of ``profile`` (the default one's) that this
        machine did not launch, brought up to date."""
        launched = frozenset(folder.run_id for folder in self.registry.all())
        return self.others.copies(profile, leave_out=launched, cancel=cancel)

    def rename(self, folder: RunFolder, name: str) -> tuple[RunRecord, str]:
        """Give a run of this machine a new name, here and in the store's copy of its record
        (when the store has one), so that other machines list it so too. Returns the new
        record, and why the store's copy kept the old name ("" when it did not)."""
        if self.others.holds(folder):
            raise UsageError(
                f"run {folder.run_id} was launched on another machine: rename it there"
            )
        record = self.registry.rename(folder, name)
        try:
            bucket = store_bucket(self._workspace.connect(record.spec.profile))
            if has_record(bucket, record.run_id):
                put_record(bucket, record)
        except DatayardError as error:
            return record, str(error)
        return record, ""

    def resume(self, folder: RunFolder) -> None:
        self._for(folder).resume(folder)

    def stop(self, folder: RunFolder) -> None:
        self._for(folder).stop(folder)

    def pause(self, folder: RunFolder) -> None:
        self._for(folder).pause(folder)

    def kill(self, folder: RunFolder, reason: str = "killed at the user's request") -> None:
        self._for(folder).kill(folder, reason)

    def alive(self, folder: RunFolder) -> bool:
        """Whether the run's worker runs; a remote run's copy answers without the host."""
        if self.where(folder) == LOCAL_HOST:
            return self.local.alive(folder)
        return not folder.summary().status.ended

    def summary(self, folder: RunFolder) -> RunSummary:
        return self._for(folder).summary(folder)

    def jobs(self, folders: list[RunFolder]) -> dict[str, JobStatus]:
        """The Jobs of the cluster runs of ``folders`` that go on, by run id, as far as
        their clusters answer at once (:meth:`ClusterBackend.statuses`)."""
        going = [f for f in folders if cluster_of(f) and not f.summary().status.ended]
        return self.cluster.statuses(going) if going else {}

    def follow(
        self, folder: RunFolder, cancel: CancelToken | None = None, *, from_seq: int = 0
    ) -> Iterator[Record]:
        return self._for(folder).follow(folder, cancel, from_seq=from_seq)

    def close(self) -> None:
        self.ssh.close()

    def _for(self, folder: RunFolder) -> LocalBackend | SshBackend | ClusterBackend | OtherMachines:
        if cluster_of(folder) is not None:
            return self.cluster
        if self.others.holds(folder):
            return self.others
        return self.local if host_of(folder) is None else self.ssh
