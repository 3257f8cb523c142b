"""What to train: a validated, saveable description of one run.

Every value a user can type is checked here, before a process starts or a
GPU is reserved, and each problem names its field so a form can point at it.
Ultralytics has about a hundred training arguments; the common ones are
fields with their own checks, the rest go in ``extra``, which is checked
against the argument list that the installed Ultralytics ships (read from its
``cfg/default.yaml`` without importing it, so the GUI stays light).
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from datayard.core import schema
from datayard.core.errors import UsageError
from datayard.core.models.version import ModelRef

TASKS = ("detect", "segment", "classify", "pose", "obb")
OPTIMIZERS = ("auto", "SGD", "MuSGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp")
SHIPPED_MODELS = (
    "yolo11n.yaml",
    "yolo11s.yaml",
    "yolo11m.yaml",
    "yolov8n.yaml",
    "yolov8s.yaml",
    "yolo26n.yaml",
    "yolo26s.yaml",
)
"""Architectures Ultralytics builds from its own YAML, offline, with random weights."""

RUN_PREFIX = "run:"
MODEL_PREFIX = "model:"
"""``model:[OWNER/]NAME[@VERSION]``: a model version in the store (``datayard models``)."""
"""``run:<run-id>`` names the best weights of an earlier run in the store."""
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")
"""A run's id as the registry makes them. It names the run's folder, its keys in the store
and the cached copy of its weights, so nothing else may pass for one (``run:../x``,
``run:/home/x``)."""

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?|\d+(,\d+)*)$")

STORE_WAIT_S = 300
"""How long a run's end waits for the store by default: a network that blinks comes back."""
STORE_WAIT_MAX_S = 7 * 24 * 3600

OWNED_ARGUMENTS = frozenset(
    {"task", "mode", "model", "data", "project", "name", "exist_ok", "resume", "save_dir", "cfg"}
)
"""Arguments the worker sets itself: a run's folder, its data and its model."""


class SpecError(UsageError):
    """Some values of a spec are not valid; ``problems`` maps field -> reason."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in problems.items()))


@dataclass(frozen=True)
class Argument:
    """One Ultralytics training argument as its defaults file describes it."""

    name: str
    default: Any
    kinds: tuple[str, ...]
    """Declared types, e.g. ``("int", "float")``; empty when the file gives none."""
    help: str


@dataclass(frozen=True)
class TrainSpec:
    """One training run's inputs. Secrets never belong here: specs are stored and shown."""

    dataset: str
    model: str = "yolo11n.yaml"
    task: str = "detect"
    epochs: int = 50
    batch: int = 16
    imgsz: int = 640
    lr0: float = 0.01
    lrf: float = 0.01
    patience: int = 50
    optimizer: str = "auto"
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    plots: bool = True
    profile: str | None = None
    """Storage profile holding the dataset; the default profile when ``None``."""
    store_wait: int = STORE_WAIT_S
    """Seconds the end of the run waits for a store that does not answer (a tunnel that
    dropped), so that its weights and results reach it; a run must end, so it is bounded."""
    extra: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> dict[str, str]:
        """Every invalid field with the reason; empty when the spec can run."""
        found: dict[str, str] = {}

        def need(name: str, ok: bool, reason: str) -> None:
            if not ok and name not in found:
                found[name] = reason

        need("dataset", bool(self.dataset.strip()), "name the dataset version to train on")
        need("task", self.task in TASKS, f"must be one of {', '.join(TASKS)}")
        model_problem = _model_problem(self.model)
        if model_problem:
            found["model"] = model_problem
        need("epochs", _int_in(self.epochs, 1, 10_000), "a whole number from 1 to 10000")
        need("batch", _int_in(self.batch, 1, 4096), "a whole number of images from 1 to 4096")
        need(
            "imgsz",
            _int_in(self.imgsz, 32, 8192) and self.imgsz % 32 == 0,
            "a multiple of 32 from 32 to 8192 pixels (YOLO's stride)",
        )
        need("lr0", _float_in(self.lr0, 0.0, 1.0), "greater than 0 and at most 1 (typical 0.01)")
        need("lrf", _float_in(self.lrf, 0.0, 1.0), "greater than 0 and at most 1 (typical 0.01)")
        need("patience", _int_in(self.patience, 0, 10_000), "0 (never stop early) or more epochs")
        need("optimizer", self.optimizer in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}")
        need(
            "device",
            bool(_DEVICE.match(self.device)),
            "auto, cpu, mps, a GPU index such as 0, a list such as 0,1, or cuda:N",
        )
        need("workers", _int_in(self.workers, 0, 64), "0 to 64 data-loading processes")
        need("seed", _int_in(self.seed, 0, 2**32 - 1), "a whole number from 0")
        need("plots", isinstance(self.plots, bool), "true or false")
        need(
            "store_wait",
            _int_in(self.store_wait, 0, STORE_WAIT_MAX_S),
            "a whole number of seconds from 0 (do not wait) to 604800 (a week)",
        )
        for name, value in self.extra.items():
            reason = _extra_problem(name, value)
            if reason:
                found[f"extra.{name}"] = reason
        return found

    def validated(self) -> TrainSpec:
        """This spec, or :class:`SpecError` naming every invalid field."""
        found = self.problems()
        if found:
            raise SpecError(found)
        return self

    def with_changes(self, **changes: Any) -> TrainSpec:
        """A clone with some values changed: how a run is re-launched with tweaks."""
        return replace(self, **changes)

    def arguments(self) -> dict[str, Any]:
        """The Ultralytics training arguments this spec asks for (model and data aside)."""
        args: dict[str, Any] = {
            "epochs": self.epochs,
            "batch": self.batch,
            "imgsz": self.imgsz,
            "lr0": self.lr0,
            "lrf": self.lrf,
            "patience": self.patience,
            "optimizer": self.optimizer,
            "workers": self.workers,
            "seed": self.seed,
            "plots": self.plots,
        }
        if self.device != "auto":
            args["device"] = self.device
        args.update(self.extra)
        return args

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        """A spec from saved JSON; unknown keys are refused so typos don't go unnoticed,
        and each value must have its field's type (:meth:`problems` checks the rest)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError({name: "not a field of a training spec" for name in unknown})
        if "dataset" not in data:
            raise SpecError({"dataset": "missing"})
        try:
            return cls(**schema.checked_fields(cls, data))
        except schema.SchemaError as problem:
            raise SpecError({problem.field: problem.problem}) from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"the spec is not valid JSON: {error}") from error
        if not isinstance(data, dict):
            raise UsageError("the spec must be a JSON object")
        return cls.from_dict(data)


@dataclass(frozen=True)
class Suggestion:
    """Starting values for a dataset of a given size on a given device, with the reason."""

    epochs: int
    batch: int
    imgsz: int
    why: str
    extra: dict[str, Any] = field(default_factory=dict)
    """Advanced Ultralytics arguments that go with the values (fine-tuning's warm-up and
    frozen layers)."""


FREEZE_BELOW = 100
"""Training images under which a fine-tuning keeps the backbone frozen: too few to retrain it."""
FROZEN_LAYERS = 10
"""The backbone of Ultralytics' YOLO detection models (layers 0-9)."""


def suggest(train_images: int, *, gpu: bool, base: str = "") -> Suggestion:
    """Defaults a data scientist would start from; ``base`` names the model it fine-tunes
    (empty: trained from scratch).

    Small sets need more passes to learn anything and over-fit less per epoch;
    a base model already knows useful features, so fine-tuning needs far fewer
    (and a short warm-up, and on a tiny set its backbone left as it is); a CPU
    gets a smaller batch and image size so that one epoch takes minutes, not hours.
    """
    if base:
        epochs = 50 if train_images < 500 else 30 if train_images < 5_000 else 20
    else:
        epochs = 100 if train_images < 500 else 60 if train_images < 5_000 else 30
    batch = 16 if gpu else 8
    imgsz = 640 if gpu else 320
    device = "a GPU" if gpu else "the CPU (no GPU found)"
    how = f"fine-tune {base}, {epochs} epochs" if base else f"from scratch, {epochs} epochs"
    extra: dict[str, Any] = {}
    if base:
        extra["warmup_epochs"] = 1
        how += ", 1 warm-up epoch"
        if train_images < FREEZE_BELOW:
            extra["freeze"] = FROZEN_LAYERS
            how += f", its first {FROZEN_LAYERS} layers (the backbone) frozen"
    why = f"{train_images} training images on {device}: {how}, batches of {batch}"
    return Suggestion(epochs, batch, imgsz, f"{why}, images resized to {imgsz} px", extra)


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _float_in(value: object, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low < value <= high


def _model_problem(model: str) -> str | None:
    if not model.strip():
        return "choose an architecture (e.g. yolo11n.yaml) or base weights (.pt) to fine-tune"
    if model.startswith(RUN_PREFIX):
        try:
            base_run(model)
        except SpecError as error:
            return error.problems["model"]
        return None
    if model.startswith(MODEL_PREFIX):
        try:
            stored_model(model, "owner")
        except UsageError as error:
            return str(error)
        return None
    if model.endswith((".yaml", ".yml")):
        if "/" in model or "\\" in model:
            return None if Path(model).expanduser().is_file() else f"{model} does not exist"
        return None
    if model.endswith(".pt"):
        path = Path(model).expanduser()
        if not path.is_file():
            return (
                f"{model} is not a file here; weights are never downloaded, so give the path "
                "of a .pt file or run:<run-id> for an earlier run's best weights"
            )
        return None
    return (
        "a model is an architecture file (.yaml), weights (.pt), run:<run-id> or "
        "model:NAME[@VERSION] (a model in the store)"
    )


def base_run(model: str) -> str | None:
    """The id of the run whose best weights ``model`` names (``run:<run-id>``); ``None`` for
    other models, :class:`SpecError` when what follows ``run:`` is not a run id."""
    if not model.startswith(RUN_PREFIX):
        return None
    run_id = model[len(RUN_PREFIX) :].strip()
    if not RUN_ID.fullmatch(run_id):
        example = "run:20261120-091500-ab12cd"
        raise SpecError({"model": f"run:<run-id> names an earlier run, e.g. {example}"})
    return run_id


@dataclass(frozen=True)
class Setting:
    """One hyperparameter across specs compared side by side."""

    name: str
    values: tuple[str, ...]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def side_by_side(specs: list[TrainSpec]) -> list[Setting]:
    """Every field of ``specs`` (the advanced arguments as ``extra.NAME``), each spec's value
    as text ("" where an advanced argument is not given), in the form's order."""
    rows = [asdict(spec) for spec in specs]
    extras = sorted({name for row in rows for name in row["extra"]})
    names = [name for name in rows[0] if name != "extra"] if rows else []
    settings = [Setting(name, tuple(_shown(row[name]) for row in rows)) for name in names]
    return settings + [
        Setting(f"extra.{name}", tuple(_shown(row["extra"].get(name, "")) for row in rows))
        for name in extras
    ]


def _shown(value: object) -> str:
    return (
        "" if value is None else json.dumps(value) if isinstance(value, list | dict) else str(value)
    )


def stored_model(model: str, default_owner: str) -> ModelRef | None:
    """The model version that ``model`` names in the store (``model:[OWNER/]NAME[@VERSION]``);
    ``None`` for other models, :class:`UsageError` when what follows is no model name."""
    if not model.startswith(MODEL_PREFIX):
        return None
    return ModelRef.parse(model[len(MODEL_PREFIX) :].strip(), default_owner)


@cache
def ultralytics_arguments() -> dict[str, Argument]:
    """The training arguments of the installed Ultralytics; empty when it is not installed."""
    found = importlib.util.find_spec("ultralytics")
    if found is None or not found.submodule_search_locations:
        return {}
    defaults = Path(next(iter(found.submodule_search_locations))) / "cfg" / "default.yaml"
    try:
        lines = defaults.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return {arg.name: arg for arg in map(_parse_argument, lines) if arg}


_ARGUMENT_LINE = re.compile(r"^(\w+):\s*([^#]*?)\s*(?:#\s*(?:\(([^)]*)\))?\s*(.*))?$")


def _parse_argument(line: str) -> Argument | None:
    match = _ARGUMENT_LINE.match(line)
    if not match:
        return None
    name, raw, kinds, text = match.groups()
    declared = tuple(
        part.strip().removesuffix(", optional")
        for part in (kinds or "").replace(", optional", "").split("|")
        if part.strip()
    )
    return Argument(name, _scalar(raw), declared, (text or "").strip())


def _scalar(raw: str) -> Any:
    if raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def parse_value(text: str) -> Any:
    """A value typed into the advanced table or after ``--arg``: numbers and true/false
    become typed, and ``[a, b]`` a list of them (``freeze=[0, 1]``). A list with an empty
    item stays text, which the argument's check then refuses by name."""
    raw = text.strip()
    if raw.startswith("[") and raw.endswith("]"):
        items = [item.strip() for item in raw[1:-1].split(",")]
        if items == [""]:
            return []
        if "" not in items:
            return [_scalar(item) for item in items]
    return _scalar(raw)


_KIND_CHECKS: dict[str, type | tuple[type, ...]] = {
    "int": int,
    "float": (int, float),
    "bool": bool,
    "str": str,
    "list": (list, tuple),
    "tuple": (list, tuple),
}


def _extra_problem(name: str, value: object) -> str | None:
    if name in OWNED_ARGUMENTS or name in TrainSpec.__dataclass_fields__:
        return "set by Datayard or by its own field, not in the advanced table"
    known = ultralytics_arguments()
    if not known:
        return None
    argument = known.get(name)
    if argument is None:
        return "not an Ultralytics training argument"
    if value is None:
        return None
    checks = [_KIND_CHECKS[k] for k in argument.kinds if k in _KIND_CHECKS]
    if not checks:
        return None
    for check in checks:
        if isinstance(value, bool) and check is not bool:
            continue
        if isinstance(value, check):
            return None
    return f"expects {' or '.join(argument.kinds)}, got {value!r}"
