"""The train dialog's "Where": this computer, a training host or a cluster, and what
each offers.

Choosing a host asks it, in the background, what a run there would get: its
GPUs and their free memory (a batch size follows from it), whether it
reaches the store by itself or only through this computer, and whether its
worker environment is ready. A host that is not ready offers nothing to
launch: the launch would be refused anyway. A cluster is not asked (its API
server may be slow to answer, and `cluster test` says far more): the choice
shows its profile, takes the number of GPUs for the run's pod, and refuses a
store that no pod can reach.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from datayard.core.checks import State
from datayard.core.clusters.registry import Cluster
from datayard.core.errors import DatayardError
from datayard.core.hosts.probe import Gpu, HostFacts
from datayard.core.hosts.registry import LOCAL_HOST
from datayard.core.training.backends import Backends
from datayard.core.training.batch_size import device_gpus, gpu_batch
from datayard.core.training.cluster import store_check
from datayard.core.training.devices import Accelerator
from datayard.core.training.spec import TrainSpec
from datayard.core.units import size

from ..notice import Notice
from ..operation_bar import describe_error
from ..rich_text import as_written, muted_label
from ..workers import Operation, call_in_background

THIS_COMPUTER = "This computer"
NO_GPU = "no GPU: trains on the CPU"
CLUSTER_GPUS = 1
"""GPUs a cluster's pod asks for unless the user says otherwise: one chooses a cluster
for its GPUs."""
CLUSTER_NOTE = (
    "The run is a Job of {cluster}: its pod trains from the store, and every machine "
    "with the profile follows it there. Run `datayard cluster test {name}` once to check "
    "the cluster, your permissions and its GPUs."
)
TUNNEL_NOTE = (
    "{host} reaches the store only through this computer: this run depends on this "
    "computer staying connected, and on the app following it, until it ends."
)


class PlaceChoice(QWidget):
    changed = Signal()
    """The choice changed, or what is known of the chosen host."""
    batch_chosen = Signal(int)
    """The user took the suggested batch size."""

    def __init__(
        self,
        backend: Backends,
        local: Accelerator,
        profile: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        self.local = local
        self.profile = profile
        self.facts: HostFacts | None = None
        self.error = ""
        """Why the chosen host could not be asked."""
        self._probing: Operation | None = None
        self._batch = 0
        self._clusters: dict[str, Cluster] = {}

        self.combo = QComboBox()
        self.combo.addItem(THIS_COMPUTER, LOCAL_HOST)
        self.check_again = QPushButton("Check again")
        self.check_again.setToolTip("Ask the host again (after setting it up, say)")
        self.gpus = muted_label("")
        self.batch_hint = muted_label("")
        self.use_batch = QPushButton()
        self.use_batch.setToolTip("Set the batch size to this suggestion")
        self.gpu_count = QSpinBox(minimum=0, maximum=64, value=CLUSTER_GPUS)
        self.gpu_count.setToolTip("GPUs of the cluster's GPU resource for the run's pod")
        self.gpu_count_label = QLabel("GPUs for its pod:")
        self.note = Notice()
        self.load_error = Notice()
        try:
            for host in backend.hosts.all():
                self._offer(f"{host.name} ({host.destination})", host.name, host.destination)
        except DatayardError as error:
            self.load_error.error(f"The hosts cannot be listed: {error}")
        try:
            for cluster in backend.cluster.clusters.all():
                self._clusters[cluster.name] = cluster
                self._offer(
                    f"{cluster.name} (cluster, namespace {cluster.namespace})",
                    cluster.name,
                    cluster.image,
                )
        except DatayardError as error:
            self.load_error.error(f"The clusters cannot be listed: {error}")

        choice = QHBoxLayout(self)
        choice.setContentsMargins(0, 0, 0, 0)
        choice.addWidget(self.combo, 1)
        choice.addWidget(self.check_again)
        self.details = QWidget()
        """What the chosen place offers, for the dialog to lay out under the choice."""
        batch = QHBoxLayout()
        batch.addWidget(self.batch_hint, 1)
        batch.addWidget(self.use_batch, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self.details)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.gpus)
        gpu_count = QHBoxLayout()
        gpu_count.addWidget(self.gpu_count_label)
        gpu_count.addWidget(self.gpu_count)
        gpu_count.addStretch(1)
        layout.addLayout(gpu_count)
        layout.addLayout(batch)
        layout.addWidget(self.note)
        layout.addWidget(self.load_error)
        self.combo.currentIndexChanged.connect(self.ask)
        self.check_again.clicked.connect(self.ask)
        self.use_batch.clicked.connect(lambda: self.batch_chosen.emit(self._batch))
        self.gpu_count.valueChanged.connect(self._gpus_changed)
        self._show()

    def _offer(self, text: str, name: str, tooltip: str) -> None:
        self.combo.addItem(text, name)
        self.combo.setItemData(
            self.combo.count() - 1, as_written(tooltip), Qt.ItemDataRole.ToolTipRole
        )

    # -- what the dialog asks ---------------------------------------------------------

    @property
    def host(self) -> str | None:
        """The chosen host's or cluster's name; ``None`` for this computer."""
        name = self.combo.currentData()
        return None if name == LOCAL_HOST else str(name)

    @property
    def cluster(self) -> Cluster | None:
        """The chosen cluster; ``None`` for this computer or a host."""
        return self._clusters.get(self.host or "")

    @property
    def pod_gpus(self) -> int:
        """The GPUs a cluster's pod asks for; 0 elsewhere (a host's device says)."""
        return self.gpu_count.value() if self.cluster is not None else 0

    @property
    def where(self) -> str:
        """Where the run goes, within a sentence (``host NAME``, ``cluster NAME``); empty
        for this computer."""
        if self.host is None:
            return ""
        return f"{'cluster' if self.cluster is not None else 'host'} {self.host}"

    @property
    def label(self) -> str:
        """Where the run goes, as a sentence starts it."""
        where = self.where
        return where[0].upper() + where[1:] if where else "This machine"

    @property
    def probing(self) -> bool:
        return self._probing is not None

    @property
    def accelerator(self) -> Accelerator:
        """What a run there trains on, as far as is known."""
        if self.host is None:
            return self.local
        if self.cluster is not None:
            gpus = (self.cluster.gpu_resource,) * self.pod_gpus
            return Accelerator("cuda", gpus) if gpus else Accelerator("cpu")
        if self.facts is not None and self.facts.gpus:
            return Accelerator("cuda", tuple(gpu.name for gpu in self.facts.gpus))
        return Accelerator("cpu")

    @property
    def through_this_computer(self) -> bool:
        """The host reaches the store only through a tunnel from here."""
        return self.host is not None and self.facts is not None and not self.facts.store_reachable

    @property
    def suggested_batch(self) -> int:
        """The batch the chosen GPUs' free memory allows; 0 when unknown."""
        return self._batch

    def problem(self) -> str:
        """Why nothing can be launched there; empty when a launch may go."""
        if self.host is None or self.probing:
            return ""
        if self.cluster is not None:
            check = store_check(self.backend.cluster.workspace.endpoint(self.profile))
            return f"{check.detail}: {check.hint}" if check.state is State.FAIL else ""
        if self.error:
            return f"{self.host} cannot be asked what it offers: {self.error}"
        if self.facts is not None and not self.facts.worker_ready:
            return (
                f"{self.host}'s worker environment is not ready "
                f"({self.facts.worker_problem()}): set it up in Settings → Hosts, then "
                "check again"
            )
        return ""

    def ask(self) -> None:
        """Ask the chosen host what it offers, in the background."""
        self.stop()
        self.facts, self.error = None, ""
        host = self.host
        if host is not None and self.cluster is None:
            operation = call_in_background(lambda: self.backend.probe(host, self.profile), self)
            operation.finished.connect(lambda facts: self._answered(operation, facts, ""))
            operation.failed.connect(
                lambda error: self._answered(operation, None, describe_error(error))
            )
            self._probing = operation
        self._show()
        self.changed.emit()

    def suggest_batch(self, spec: TrainSpec, train_images: int) -> None:
        """Suggest a batch for the GPUs that ``spec``'s device names on the host."""
        gpus = self.facts.gpus if self.facts is not None and self.host is not None else ()
        chosen = [gpus[index] for index in device_gpus(spec.device, len(gpus))]
        self._batch = 0
        if chosen and spec.imgsz > 0:
            least = min(chosen, key=lambda gpu: gpu.memory_free_mib)
            self._batch = gpu_batch(
                least.memory_free_mib,
                imgsz=spec.imgsz,
                model=spec.model,
                train_images=train_images,
                gpus=len(chosen),
            )
            self.batch_hint.setText(
                f"Batch size: {self._batch} suits {_which(chosen)} with "
                f"{size(least.memory_free_mib * 1024**2)} free at {spec.imgsz} px. A "
                "starting point: the first epoch shows the memory it really uses; halve the "
                "batch after an out-of-memory."
            )
            self.use_batch.setText(f"Use {self._batch}")
        self.batch_hint.setVisible(bool(self._batch))
        self.use_batch.setVisible(bool(self._batch) and spec.batch != self._batch)

    def stop(self) -> None:
        """Its answer, if it still comes, is for nobody."""
        if self._probing is not None:
            self._probing.cancel()
            self._probing = None

    # -- showing ----------------------------------------------------------------------

    def _answered(self, operation: Operation, facts: HostFacts | None, error: str) -> None:
        if operation is not self._probing:
            return
        self._probing = None
        self.facts, self.error = facts, error
        self._show()
        self.changed.emit()

    def _gpus_changed(self) -> None:
        self._show()
        self.changed.emit()

    def _show(self) -> None:
        host, cluster = self.host, self.cluster
        self.check_again.setVisible(host is not None and cluster is None)
        self.check_again.setEnabled(not self.probing)
        self.gpu_count.setVisible(cluster is not None)
        self.gpu_count_label.setVisible(cluster is not None)
        self.note.clear()
        if host is None:
            self.gpus.setText(f"Trains here: {self.local.describe()}.")
        elif cluster is not None:
            self.gpus.setText(f"Its pod runs the image {cluster.image}.")
            self.note.info(CLUSTER_NOTE.format(cluster=cluster.shown, name=cluster.name))
        elif self.probing:
            self.gpus.setText(f"Asking {host} what it offers…")
        elif self.facts is None:
            self.gpus.setText("")
        else:
            self.gpus.setText(
                "\n".join(_gpu_line(gpu) for gpu in self.facts.gpus) if self.facts.gpus else NO_GPU
            )
            if not self.facts.store_reachable:
                self.note.warning(TUNNEL_NOTE.format(host=host))
        self.gpus.setVisible(bool(self.gpus.text()))
        if host is None or self.facts is None:
            self.batch_hint.hide()
            self.use_batch.hide()


def _gpu_line(gpu: Gpu) -> str:
    total, free = size(gpu.memory_total_mib * 1024**2), size(gpu.memory_free_mib * 1024**2)
    return f"GPU {gpu.index}: {gpu.name}, {free} free of {total}"


def _which(gpus: list[Gpu]) -> str:
    if len(gpus) == 1:
        return f"GPU {gpus[0].index}"
    return "GPUs " + ", ".join(str(gpu.index) for gpu in gpus) + " (the least free counted)"
