"""The "Train…" dialog: set up one YOLO training run on one dataset version.

The people who launch runs are not all Ultralytics experts, so every
hyperparameter sits next to the explanation a colleague would give, the
starting values follow the dataset's size and this machine's GPU, and a
summary says in words what will happen. The rules live in
:class:`TrainSpec`: the dialog asks it for problems on every change and marks
the fields it names, so nothing invalid can be started.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from datayard.core.datasets.manifest import Manifest
from datayard.core.errors import DatayardError
from datayard.core.paths import AppDirs
from datayard.core.store.bucket import Bucket
from datayard.core.training.backends import Backends
from datayard.core.training.base_models import BaseModel, preferred, store_models
from datayard.core.training.devices import Accelerator, find_accelerator
from datayard.core.training.runs import RunFolder, RunRegistry, RunStatus
from datayard.core.training.spec import (
    OPTIMIZERS,
    OWNED_ARGUMENTS,
    RUN_PREFIX,
    SHIPPED_MODELS,
    STORE_WAIT_S,
    TASKS,
    Argument,
    Suggestion,
    TrainSpec,
    parse_value,
    suggest,
    ultralytics_arguments,
)
from datayard.core.training.support import TrainingSupport

from ..notice import Notice
from ..operation_bar import describe_error
from ..rich_text import as_written, muted_label, plain_label, quoted
from ..transfers.text import ERROR_COLOUR
from ..workers import Operation, call_in_background
from .place_choice import PlaceChoice
from .support_panel import TrainingSupportPanel

LABELS = {
    "where": "Where",
    "task": "Task",
    "model": "Base model",
    "epochs": "Epochs",
    "patience": "Patience",
    "batch": "Batch size",
    "imgsz": "Image size",
    "optimizer": "Optimizer",
    "lr0": "Learning rate",
    "lrf": "Final LR fraction",
    "device": "Device",
    "workers": "Workers",
    "seed": "Seed",
    "plots": "Plots",
}
"""The form's fields in the order shown, by their TrainSpec name."""

EXPLANATIONS = {
    "where": (
        "This computer, a training host added in Settings → Hosts, or a Kubernetes "
        "cluster added with `datayard cluster add`. A host or a cluster trains with its own "
        "GPUs and pulls the dataset from the store itself; its run goes on there when this "
        "app closes, and the Training tab follows it here."
    ),
    "task": (
        "What the model learns to output: detect draws boxes around objects, segment "
        "outlines each object, classify labels the whole image, pose finds keypoints, "
        "obb draws rotated boxes. It must match how the labels were made."
    ),
    "model": (
        "Fine-tune a model from the team's store (listed first), an earlier run's weights or "
        "a .pt file: the model already knows useful features, so it needs far fewer epochs "
        "and images. Or train from scratch from an architecture (.yaml; n = nano, fastest "
        "and smallest, s = small, m = medium: more accurate, slower): random weights need "
        "many epochs and thousands of images."
    ),
    "epochs": (
        "One epoch is one pass over all training images. More epochs train longer and fit "
        "better, but on a small set the model starts memorising it (over-fitting): the "
        "validation score stops improving, then drops."
    ),
    "patience": (
        "Stops early when the validation score (mAP) has not improved for this many epochs, "
        "keeping the best weights. 0 never stops early."
    ),
    "batch": (
        "Images processed together in one step; the weights are updated once per batch. "
        "Larger batches use more GPU (or CPU) memory: if a run fails with 'out of memory', "
        "halve it. Very small batches (under 4) give noisy updates."
    ),
    "imgsz": (
        "Every image is resized to this many pixels (a multiple of 32). Bigger finds small "
        "objects better but costs memory and time quadratically: 640 takes about four times "
        "as long as 320."
    ),
    "optimizer": (
        "How each batch's errors become weight changes. auto lets Ultralytics pick the "
        "optimizer and its learning rate from the length of the training, ignoring the "
        "learning rates below. SGD suits long trainings; Adam/AdamW converge faster on "
        "small sets."
    ),
    "lr0": (
        "The step size of each weight update at the start. Too high and training diverges "
        "(losses jump or become NaN); too low and it learns slowly. Typical: 0.01 for SGD, "
        "0.001 for Adam/AdamW."
    ),
    "lrf": (
        "The learning rate at the end of the schedule, as a fraction of the first: it "
        "decays from lr0 to lr0 × lrf, so the last epochs make small, careful adjustments."
    ),
    "device": (
        "Where training runs. auto picks the GPU when there is one, else the CPU. "
        "0 is the first GPU, 0,1 two GPUs, cpu leaves the GPU free."
    ),
    "workers": (
        "Processes that load and augment images while the model trains. More keep a fast "
        "GPU busy but use more memory; 0 loads in the training process itself (slow, safest)."
    ),
    "seed": (
        "Where the random numbers start (shuffling, augmentation, initial weights). The same "
        "seed, data and settings give a comparable run, so you can tell whether a change helped."
    ),
    "plots": (
        "Saves charts in the run folder: loss curves, confusion matrix, example batches with "
        "their labels. Costs a few seconds per validation."
    ),
}

SIZES = {"n": "nano", "s": "small", "m": "medium", "l": "large", "x": "extra large"}
"""What the last letter of a shipped architecture's name means."""

_CHOOSE_FILE = "\0choose"
"""The data of the model combo's last item, which opens a file dialog."""
_TYPE_A_NUMBER = "type a number with a decimal point, such as 0.01"
_TYPE_A_WHOLE_NUMBER = "type a whole number"
_MIN_FIELD_WIDTH = 270
_VALUE = 2
"""The advanced table's editable column."""


class TrainDialog(QDialog):
    """Sets up a training run on ``manifest`` and launches it with ``backend``.

    ``initial`` prefills every value from an earlier run's spec (a clone);
    ``profile`` names the storage profile that holds the dataset (the
    default profile when ``None``); ``accelerator`` describes this machine's
    GPU, found when not given; ``support`` whether this computer can train,
    looked up in the background when not given (see :class:`TrainingSupportPanel`,
    which builds in ``cache``).
    """

    launched = Signal(object)
    """The :class:`RunFolder` of the run that was started."""
    runs_listed = Signal()
    """Earlier runs' weights were added to the base model choices."""
    models_listed = Signal()
    """The store's models were added to the base model choices (first)."""

    def __init__(
        self,
        manifest: Manifest,
        backend: Backends,
        parent: QWidget | None = None,
        *,
        initial: TrainSpec | None = None,
        cloned_from: str | None = None,
        profile: str | None = None,
        accelerator: Accelerator | None = None,
        support: TrainingSupport | None = None,
        cache: Path | None = None,
        bucket: Bucket | None = None,
    ) -> None:
        super().__init__(parent)
        self.manifest = manifest
        self.backend = backend
        self.cloned_from = cloned_from
        self.run_folder: RunFolder | None = None
        self._profile = profile if profile is not None or initial is None else initial.profile
        self._launching: Operation | None = None
        self._base_models: dict[str, BaseModel] = {}
        self._model_chosen = initial is not None
        """Whether the base model is the user's (or a clone's) choice, which the store's
        models, listed later, leave as it is."""
        self.place = PlaceChoice(backend, accelerator or find_accelerator(), self._profile)
        self._store_wait = STORE_WAIT_S if initial is None else initial.store_wait
        """Kept from a clone: the form has no field for it (``train --store-wait`` has)."""
        self.setWindowTitle(f"Train on {manifest.owner}/{manifest.name}")
        self.resize(880, 680)

        self._build_fields()
        self.advanced = AdvancedArguments()
        self.summary = plain_label()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_notice = Notice()
        self.message = Notice()
        self.training_support = TrainingSupportPanel(cache or AppDirs.default().cache, support)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start = self.buttons.addButton(
            "Start training", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.start.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._lay_out()
        self._place_changed()

        self._load(initial or self._suggested_spec())
        self._connect()
        self._refresh()
        self._listing: Operation = call_in_background(
            lambda: fine_tunable_runs(backend.registry), self
        )
        self._listing.finished.connect(self._add_runs)
        self._models_listing: Operation | None = None
        if bucket is not None:
            self.models_note.setText("Looking for models in the store…")
            self._models_listing = call_in_background(lambda: store_models(bucket), self)
            self._models_listing.finished.connect(self._add_store_models)
            self._models_listing.failed.connect(self._store_models_unlisted)

    # -- the values ------------------------------------------------------------------

    def spec(self) -> TrainSpec:
        """The spec as the form shows it; text that is not a number reads as NaN (invalid)."""
        return TrainSpec(
            dataset=self.manifest.ref,
            model=self._model_value(),
            task=self.task.currentText(),
            epochs=self.epochs.value(),
            batch=self.batch.value(),
            imgsz=self.imgsz.value(),
            lr0=_number(self.lr0.text()),
            lrf=_number(self.lrf.text()),
            patience=self.patience.value(),
            optimizer=self.optimizer.currentText(),
            device=self.device.currentText().strip(),
            workers=self.workers.value(),
            seed=self.seed.value(),
            plots=self.plots.isChecked(),
            profile=self._profile or None,
            store_wait=self._store_wait,
            extra=self.advanced.values(),
        )

    def problems(self) -> dict[str, str]:
        """The spec's problems, text the form could not read, and what the place
        refuses, by field."""
        spec = self.spec()
        found = {**spec.problems(), **self._unreadable()}
        if self.place.problem():
            found["where"] = self.place.problem()
        if self.place.host and spec.model.endswith(".pt") and "model" not in found:
            found["model"] = (
                f"a weights file of this computer is not on {self.place.host}: fine-tune an "
                "earlier run's best weights (run:…), which it takes from the store"
            )
        return found

    @property
    def accelerator(self) -> Accelerator:
        """What the run would train on where it is to go."""
        return self.place.accelerator

    @property
    def suggestion(self) -> Suggestion:
        """What suits this dataset, where it trains and from what: fine-tuning a base model
        needs fewer epochs than training from scratch."""
        return suggest(
            self.manifest.split_counts()["train"],
            gpu=self.accelerator.gpu,
            base=self._base_name(self._model_value()),
        )

    def _base_name(self, model: str) -> str:
        if model in self._base_models:
            return self._base_models[model].name
        if model.startswith(RUN_PREFIX):
            return f"the best weights of run {model[len(RUN_PREFIX) :]}"
        return Path(model).name if model.endswith(".pt") else ""

    def accept(self) -> None:
        """Launch the run in the background (a host takes a few seconds); a refusal is
        shown and the dialog stays open with its values.

        Text that is not a number is refused here: a spin box would otherwise
        launch with the last number it held, which the user no longer sees.
        """
        if self._unreadable():
            self.message.error("Some fields do not hold a number yet: fix the marked fields.")
            return
        if self._launching is not None or self.place.probing:
            return
        spec, ref, host, gpus, cloned_from = (
            self.spec(),
            self.manifest.ref,
            self.place.host,
            self.place.pod_gpus,
            self.cloned_from,
        )
        operation = call_in_background(
            lambda: self.backend.launch(spec, ref, host=host, gpus=gpus, cloned_from=cloned_from),
            self,
        )
        operation.finished.connect(self._launched)
        operation.failed.connect(self._not_launched)
        self._launching = operation
        self._refresh()
        self.message.info(f"Starting the training on {host or 'this computer'}…")

    def reject(self) -> None:
        """Closing waits for a launch under way: its run would start all the same."""
        if self._launching is None:
            super().reject()

    def done(self, result: int) -> None:
        """Closing the dialog stops an install of training support; it changes nothing then."""
        self.place.stop()
        self.training_support.cancel()
        super().done(result)

    def use_suggestion(self) -> None:
        """Reset epochs, batch and image size to what suits this dataset and where it
        trains; on a host's GPU, the batch its free memory allows at that image size."""
        suggestion = self.suggestion
        self.epochs.setValue(suggestion.epochs)
        self.imgsz.setValue(suggestion.imgsz)
        self.batch.setValue(self.place.suggested_batch or suggestion.batch)
        fine_tuning = ("warmup_epochs", "freeze")
        kept = {k: v for k, v in self.advanced.values().items() if k not in fine_tuning}
        self.advanced.load({**kept, **suggestion.extra})

    def _launched(self, folder: RunFolder) -> None:
        self._launching = None
        self.run_folder = folder
        self.launched.emit(folder)
        super().accept()

    def _not_launched(self, error: Exception) -> None:
        self._launching = None
        self._refresh()
        self.message.error(
            f"The training was not started: {describe_error(error)}\n"
            "Fix the values above and start again."
        )

    def _place_changed(self) -> None:
        """Devices, explanations and the summary follow the place's accelerator; this
        computer's training support matters only to a run here."""
        device = self.device.currentText()
        self.device.blockSignals(True)
        self.device.clear()
        self.device.addItems(_devices(self.accelerator))
        self.device.setCurrentText(device or self.accelerator.device)
        self.device.blockSignals(False)
        self._device_note.setText(self._explanation("device"))
        self._facts.setText(self._facts_text())
        self._support_box.setVisible(self.place.host is None)
        self._refresh()

    def _unreadable(self) -> dict[str, str]:
        found = {
            name: _TYPE_A_WHOLE_NUMBER
            for name, spin in self._spins.items()
            if not spin.hasAcceptableInput()
        }
        for name, line in (("lr0", self.lr0), ("lrf", self.lrf)):
            if math.isnan(_number(line.text())):
                found[name] = _TYPE_A_NUMBER
        return found

    def _model_value(self) -> str:
        data = self.model.currentData()
        return "" if data in (None, _CHOOSE_FILE) else str(data)

    def _suggested_spec(self) -> TrainSpec:
        return TrainSpec(
            dataset=self.manifest.ref,
            epochs=self.suggestion.epochs,
            batch=self.suggestion.batch,
            imgsz=self.suggestion.imgsz,
            device=self.accelerator.device,
        )

    def _load(self, spec: TrainSpec) -> None:
        self.task.setCurrentText(spec.task)
        self._select_model(spec.model)
        for name, spin in self._spins.items():
            spin.setValue(getattr(spec, name))
        self.lr0.setText(f"{spec.lr0:g}")
        self.lrf.setText(f"{spec.lrf:g}")
        self.optimizer.setCurrentText(spec.optimizer)
        self.device.setCurrentText(spec.device)
        self.plots.setChecked(spec.plots)
        self.advanced.load(spec.extra)
        if spec.extra:
            self.advanced_section.expand(animate=False)

    # -- building --------------------------------------------------------------------

    def _build_fields(self) -> None:
        self.task = QComboBox()
        self.task.addItems(TASKS)
        self.model = QComboBox()
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model.setMinimumContentsLength(24)
        for name in SHIPPED_MODELS:
            self.model.addItem(f"{name}: {_size_of(name)}, from scratch", name)
        self.model.addItem("Weights file…", _CHOOSE_FILE)
        self.model.setItemData(
            self.model.count() - 1, "Fine-tune a .pt file", Qt.ItemDataRole.ToolTipRole
        )
        self._model_index = 0
        self.epochs = _spin(1, 10_000)
        self.patience = _spin(0, 10_000)
        self.patience.setSpecialValueText("0 (never stop early)")
        self.batch = _spin(1, 4096, suffix=" images")
        self.imgsz = _spin(32, 8192, step=32, suffix=" px")
        self.workers = _spin(0, 64)
        self.seed = _spin(0, 2**31 - 1)
        self._spins = {
            "epochs": self.epochs,
            "patience": self.patience,
            "batch": self.batch,
            "imgsz": self.imgsz,
            "workers": self.workers,
            "seed": self.seed,
        }
        self.optimizer = QComboBox()
        self.optimizer.addItems(OPTIMIZERS)
        self.lr0 = QLineEdit()
        self.lrf = QLineEdit()
        self.device = QComboBox()
        self.device.setEditable(True)
        self.plots = QCheckBox("Save plots")
        self.fields: dict[str, QWidget] = {
            "where": self.place,
            "task": self.task,
            "model": self.model,
            "epochs": self.epochs,
            "patience": self.patience,
            "batch": self.batch,
            "imgsz": self.imgsz,
            "optimizer": self.optimizer,
            "lr0": self.lr0,
            "lrf": self.lrf,
            "device": self.device,
            "workers": self.workers,
            "seed": self.seed,
            "plots": self.plots,
        }
        self.errors = {name: Notice(reserved=True) for name in self.fields}
        self._frames = {name: _frame(widget) for name, widget in self.fields.items()}
        self.runs_note = muted_label("Looking for earlier runs to fine-tune…")
        self.models_note = muted_label("")

    def _facts_text(self) -> str:
        counts = self.manifest.split_counts()
        classes = ", ".join(self.manifest.class_names) or "no class names"
        return (
            f"{counts['train']} train / {counts['val']} val / {counts['test']} test images; "
            f"{len(self.manifest.class_names)} classes ({classes}). "
            f"Suggested: {self.suggestion.why}."
        )

    def _lay_out(self) -> None:
        title = QLabel(f"<b>Train a model on {quoted(self.manifest.ref)}</b>")
        title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._facts = muted_label(self._facts_text())
        suggested = QPushButton("Use suggested values")
        suggested.setToolTip(
            "Epochs, batch size and image size suited to this dataset and where it trains"
        )
        suggested.clicked.connect(self.use_suggestion)
        head = QHBoxLayout()
        head.addWidget(self._facts, 1)
        head.addWidget(suggested, 0, Qt.AlignmentFlag.AlignTop)

        grid = QGridLayout()
        grid.setColumnMinimumWidth(1, _MIN_FIELD_WIDTH)
        grid.setColumnStretch(2, 1)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        for name, label in LABELS.items():
            row = grid.rowCount()
            grid.addWidget(QLabel(f"{label}:"), row, 0, Qt.AlignmentFlag.AlignTop)
            field = QVBoxLayout()
            field.setSpacing(2)
            field.addWidget(self._frames[name])
            if name == "model":
                field.addWidget(self.models_note)
                field.addWidget(self.runs_note)
            field.addStretch()
            grid.addLayout(field, row, 1)
            explanation = muted_label(self._explanation(name))
            grid.addWidget(explanation, row, 2)
            grid.addWidget(self.errors[name], row + 1, 1, 1, 2)
            if name == "where":  # what the host offers, under its choice, as wide as the form
                grid.addWidget(self.place.details, row + 2, 1, 1, 2)
            if name == "device":
                self._device_note = explanation

        self.advanced_section = QCollapsible("Advanced: Ultralytics' other arguments")
        self.advanced_section.setDuration(0)
        self.advanced_section.addWidget(self.advanced)
        form = QWidget()
        inner = QVBoxLayout(form)
        inner.addLayout(grid)
        inner.addWidget(self.advanced_section)
        inner.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(form)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(head)
        self._support_box = QWidget()
        """Hidden while a host is chosen: the panel itself shows or hides within it."""
        box = QVBoxLayout(self._support_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.training_support)
        layout.addWidget(self._support_box)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.problems_notice)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def _explanation(self, name: str) -> str:
        if name == "device":
            return f"{EXPLANATIONS[name]} {self.place.label}: {self.accelerator.describe()}."
        return EXPLANATIONS[name]

    def _connect(self) -> None:
        for combo in (self.task, self.optimizer):
            combo.currentIndexChanged.connect(self._refresh)
        self.model.currentIndexChanged.connect(self._refresh)
        self.model.activated.connect(self._model_activated)
        self.device.editTextChanged.connect(self._refresh)
        for spin in self._spins.values():
            # The spin box reports new values, its editor any text (emptied too).
            spin.textChanged.connect(self._refresh)
            spin.lineEdit().textChanged.connect(self._refresh)
        for line in (self.lr0, self.lrf):
            line.textChanged.connect(self._refresh)
        self.plots.toggled.connect(self._refresh)
        self.advanced.changed.connect(self._refresh)
        self.place.changed.connect(self._place_changed)
        self.place.batch_chosen.connect(self.batch.setValue)
        self.training_support.changed.connect(self._refresh)

    # -- the base model --------------------------------------------------------------

    def _select_model(self, model: str) -> None:
        """Choose ``model``, adding it (a file, a run) when it is not offered yet."""
        index = self.model.findData(model)
        if index < 0:
            index = self.model.count() - 1  # before "Weights file…"
            self.model.insertItem(index, model, model)
        self.model.setCurrentIndex(index)
        self._model_index = index

    def _model_activated(self, index: int) -> None:
        self._model_chosen = True
        if self.model.itemData(index) != _CHOOSE_FILE:
            self._model_index = index
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Weights to fine-tune", "", "PyTorch weights (*.pt);;All files (*)"
        )
        if path:
            self._select_model(path)
        else:
            self.model.setCurrentIndex(self._model_index)

    def _add_runs(self, runs: list[tuple[str, str]]) -> None:
        for model, label in runs:
            index = self.model.findData(model)
            if index < 0:
                index = self.model.count() - 1
                self.model.insertItem(index, label, model)
            self.model.setItemText(index, label)
            self.model.setItemData(index, as_written(label), Qt.ItemDataRole.ToolTipRole)
        self._model_index = self.model.currentIndex()
        self.runs_note.setText(
            f"{len(runs)} earlier run(s) can be fine-tuned: they are in the list."
            if runs
            else "No finished runs yet: their best weights will be offered here."
        )
        self.runs_listed.emit()

    def _add_store_models(self, models: list[BaseModel]) -> None:
        """The store's models go first: fine-tuning one is what a small set needs. Unless
        the user (or a clone) chose a base already, the one that suits this set is chosen,
        with the values that suit fine-tuning it."""
        names = self.manifest.class_names
        for place, base in enumerate(models):
            self._base_models[base.model] = base
            self.model.insertItem(place, base.label(), base.model)
            tip = "\n".join(filter(None, (base.label(), base.head_note(names))))
            self.model.setItemData(place, as_written(tip), Qt.ItemDataRole.ToolTipRole)
        self._model_index = self.model.currentIndex()
        chosen = preferred(models, self.task.currentText(), names)
        if chosen is not None and not self._model_chosen:
            self._select_model(chosen.model)
            self.use_suggestion()
        self.models_note.setText(
            f"{len(models)} model(s) in the store, listed first."
            if models
            else "No models in the store yet: `datayard models add` or promote a run."
        )
        self._refresh()
        self.models_listed.emit()

    def _store_models_unlisted(self, error: Exception) -> None:
        self.models_note.setText(f"The store's models could not be listed: {describe_error(error)}")
        self.models_listed.emit()

    # -- checking --------------------------------------------------------------------

    def _refresh(self) -> None:
        spec = self.spec()
        problems = self.problems()
        for name, frame in self._frames.items():
            _mark(frame, problems.get(name))
            if name in problems:
                self.errors[name].error(problems[name])
            else:
                self.errors[name].clear()
        self.advanced.mark(problems)
        self.place.suggest_batch(spec, self.manifest.split_counts()["train"])
        self._facts.setText(self._facts_text())
        self.summary.setText(
            describe(
                spec,
                self.manifest,
                self.accelerator,
                where=self.place.where or None,
                through_this_computer=self.place.through_this_computer,
                base=self._base_models.get(spec.model),
            )
        )
        launching = self._launching is not None
        untrainable = self.place.host is None and self.training_support.can_train is False
        self.start.setEnabled(
            not problems and not self.place.probing and not launching and not untrainable
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(not launching)
        if problems:
            fields = ", ".join(_field_label(name) for name in problems)
            self.problems_notice.error(f"Fix before starting: {fields}.")
        else:
            self.problems_notice.clear()
        if not launching:
            self.message.clear()


class AdvancedArguments(QWidget):
    """Ultralytics' other training arguments; only the values typed in go into the spec."""

    changed = Signal()
    COLUMNS = ("Argument", "Default", "Value", "What it does")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.arguments = {
            name: argument
            for name, argument in ultralytics_arguments().items()
            if name not in OWNED_ARGUMENTS and name not in TrainSpec.__dataclass_fields__
        }
        self.filter = QLineEdit(placeholderText="Filter by name or description")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setMinimumHeight(280)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(len(self.COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.cells: dict[str, QTableWidgetItem] = {}
        """The editable value of each argument, by name."""
        for argument in self.arguments.values():
            self._add_row(argument)
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(_VALUE, 120)
        self.table.itemChanged.connect(lambda _: self.changed.emit())
        note = muted_label(
            "Leave a value empty to keep Ultralytics' default. Numbers and true/false are "
            "read as such, [a, b] as a list, anything else as text."
            if self.arguments
            else "Ultralytics is not installed here, so its arguments cannot be listed."
        )
        self.problems = Notice()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(note)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        layout.addWidget(self.problems)

    def values(self) -> dict[str, Any]:
        """The typed-in values that differ from the defaults, parsed."""
        found: dict[str, Any] = {}
        for name, cell in self.cells.items():
            text = cell.text().strip()
            if text and parse_value(text) != self.arguments[name].default:
                found[name] = parse_value(text)
        return found

    def load(self, extra: Mapping[str, Any]) -> None:
        """Show ``extra``'s values; an argument this Ultralytics lacks gets a row to clear."""
        self.table.blockSignals(True)
        for cell in self.cells.values():
            cell.setText("")
        for name, value in extra.items():
            if name not in self.cells:
                self._add_row(Argument(name, None, (), "not an argument of this Ultralytics"))
            self.cells[name].setText(_text(value))
        self.table.blockSignals(False)
        self.changed.emit()

    def mark(self, problems: Mapping[str, str]) -> None:
        """Colour the values the spec refused and list the reasons under the table."""
        self.table.blockSignals(True)
        reasons = []
        for name, cell in self.cells.items():
            reason = problems.get(f"extra.{name}")
            cell.setData(
                Qt.ItemDataRole.BackgroundRole,
                QColor(ERROR_COLOUR).lighter(170) if reason else None,
            )
            cell.setToolTip(as_written(reason or self.arguments[name].help))
            if reason:
                reasons.append(f"{name}: {reason}")
                self.table.showRow(cell.row())  # a refused value stays visible whatever the filter
        self.table.blockSignals(False)
        if reasons:
            self.problems.error("\n".join(reasons))
        else:
            self.problems.clear()

    def _add_row(self, argument: Argument) -> None:
        self.arguments[argument.name] = argument
        row = self.table.rowCount()
        self.table.insertRow(row)
        cells = (argument.name, _text(argument.default, none="(none)"), "", argument.help)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column != _VALUE:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(argument.help)
            self.table.setItem(row, column, item)
            if column == _VALUE:
                self.cells[argument.name] = item

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for name, cell in self.cells.items():
            help_text = self.arguments[name].help.lower()
            self.table.setRowHidden(cell.row(), needle not in name.lower() + " " + help_text)


def describe(
    spec: TrainSpec,
    manifest: Manifest,
    accelerator: Accelerator,
    *,
    where: str | None = None,
    through_this_computer: bool = False,
    base: BaseModel | None = None,
) -> str:
    """What launching ``spec`` (``where``: on a host or cluster, or here; from ``base``, a
    model of the store) will do, in one paragraph a user reads before starting."""
    counts = manifest.split_counts()
    train = counts["train"]
    data = (
        f"{manifest.ref} ({train} train / {counts['val']} val images, "
        f"{len(manifest.class_names)} classes)"
    )
    start = f"Fine-tunes {base.name}" if base is not None else _model_phrase(spec.model)
    parts = [
        f"{start} on {data} for {spec.epochs} epochs "
        f"{f'on {where}, ' if where else ''}{_device_phrase(spec.device, accelerator)}",
        f"each epoch is {math.ceil(train / spec.batch)} batches "
        f"of {spec.batch} images at {spec.imgsz} px",
        _optimizer_phrase(spec),
        _patience_phrase(spec.patience, spec.epochs),
        base.head_note(manifest.class_names) if base is not None else "",
    ]
    if spec.extra:
        parts.append("advanced: " + ", ".join(f"{k}={_text(v)}" for k, v in spec.extra.items()))
    if through_this_computer:
        ending = "It reaches the store through this computer: keep the app open until it ends."
    else:
        ending = "Runs in the background; you can close the app."
    text = "; ".join(filter(None, parts)) + ". " + ending
    if train == 0:
        text = "This version has no training images: the run will fail. " + text
    return text


def fine_tunable_runs(registry: RunRegistry) -> list[tuple[str, str]]:
    """(model, label) for each earlier run whose best weights can be fine-tuned, newest first.

    Reads every run's events, so it runs in the background.
    """
    found = []
    for folder in registry.all():
        try:
            summary, record = folder.summary(), folder.record()
        except (DatayardError, OSError, ValueError, KeyError):
            continue  # a half-written or foreign folder is not offered
        if summary.status not in (RunStatus.FINISHED, RunStatus.STOPPED):
            continue
        score = f", mAP50-95 {summary.best_map:.3f}" if summary.best_map is not None else ""
        label = f"{RUN_PREFIX}{folder.run_id} (best weights{score}; {record.dataset})"
        found.append((f"{RUN_PREFIX}{folder.run_id}", label))
    return found


def _model_phrase(model: str) -> str:
    if model.startswith(RUN_PREFIX):
        return f"Fine-tunes the best weights of run {model[len(RUN_PREFIX) :]}"
    if model.endswith(".pt"):
        return f"Fine-tunes {Path(model).name}"
    return f"Trains {Path(model).stem or 'a model'} from scratch"


def _devices(accelerator: Accelerator) -> list[str]:
    """The device choices offered for a machine: what Ultralytics understands there."""
    found = ["auto", "cpu"]
    if accelerator.kind == "cuda":
        found += [str(i) for i in range(max(1, len(accelerator.names)))]
    if accelerator.kind == "mps":
        found.append("mps")
    return found


def _device_phrase(device: str, accelerator: Accelerator) -> str:
    if device == "auto":
        if accelerator.kind == "cuda":
            return f"on the GPU ({accelerator.describe()})"
        return "on the CPU"
    if device == "cpu":
        return "on the CPU"
    if device == "mps":
        return "on the Apple GPU"
    return f"on GPU {device}" if "," not in device else f"on GPUs {device}"


def _optimizer_phrase(spec: TrainSpec) -> str:
    if spec.optimizer == "auto":
        return "Ultralytics picks the optimizer and learning rate"
    return (
        f"{spec.optimizer} with a learning rate from {spec.lr0:g} down to {spec.lr0 * spec.lrf:g}"
    )


def _patience_phrase(patience: int, epochs: int) -> str:
    if patience == 0:
        return "never stops early"
    if patience >= epochs:
        return f"runs all epochs (patience {patience} is not below the epochs)"
    return f"stops early after {patience} epochs without improvement"


def _size_of(model: str) -> str:
    letter = Path(model).stem[-1:]
    return SIZES.get(letter, "architecture")


def _spin(low: int, high: int, *, step: int = 1, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setSuffix(suffix)
    spin.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
    return spin


def _frame(field: QWidget) -> QFrame:
    """A thin frame around a field, red while it is invalid.

    A border styled on the field itself would replace its native look
    (a spin box loses its arrows); on a frame around it, nothing else changes.
    """
    frame = QFrame()
    frame.setObjectName("field")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(1, 1, 1, 1)
    layout.addWidget(field)
    return frame


def _mark(frame: QFrame, problem: str | None) -> None:
    """Frame a field the spec refused in red; its reason is the tooltip too."""
    frame.setStyleSheet(
        f"QFrame#field {{ border: 1px solid {ERROR_COLOUR}; border-radius: 3px; }}"
        if problem
        else ""
    )
    frame.setToolTip(as_written(problem or ""))


def _field_label(name: str) -> str:
    advanced = name.removeprefix("extra.")
    return LABELS.get(name, name) if advanced == name else f"advanced argument {advanced}"


def _number(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        return math.nan


def _text(value: Any, *, none: str = "") -> str:
    """A value as it is typed in the advanced table: true/false, numbers, [a, b], plain text."""
    if value is None:
        return none
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(item, none=none) for item in value) + "]"
    return str(value)
