"""What core/training/yolo.py relies on in the installed Ultralytics, checked without training.

The hooks read the trainer's attributes and infer events from the order of its
callbacks; an Ultralytics release that renames one or reorders them would not
fail, it would report wrong numbers. These tests read Ultralytics' own source
(its trainer and its list of callbacks) and set one real trainer up in a child
process, so that an upgrade fails here, in seconds, naming what changed.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datayard.core.training import yolo

ROOT = Path(__file__).resolve().parents[2]


def ultralytics_file(relative: str) -> ast.Module:
    found = importlib.util.find_spec("ultralytics")
    if found is None or not found.submodule_search_locations:
        pytest.skip("Ultralytics is not installed (the train extra)")
    path = Path(next(iter(found.submodule_search_locations))) / relative
    return ast.parse(path.read_text(encoding="utf-8"))


def base_trainer() -> dict[str, ast.FunctionDef]:
    """BaseTrainer's methods by name."""
    module = ultralytics_file("engine/trainer.py")
    (trainer,) = (n for n in module.body if isinstance(n, ast.ClassDef) and n.name == "BaseTrainer")
    return {n.name: n for n in trainer.body if isinstance(n, ast.FunctionDef)}


def is_self(node: ast.AST, attribute: str) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == attribute
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def self_call(node: ast.AST) -> str | None:
    """``self.name(...)`` -> name."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "self"
    ):
        return node.func.attr
    return None


def steps(node: ast.AST, methods: dict[str, ast.FunctionDef]) -> Iterator[str]:
    """What the trainer does, in source order, as the hooks care about it: callbacks
    fired (``_setup_train`` and ``final_eval`` read where they are called), the
    epoch loop, ``self.epoch += 1``, and a change of ``self.batch_size``."""
    called = self_call(node)
    if called == "run_callbacks":
        argument = node.args[0]  # type: ignore[attr-defined]
        yield argument.value if isinstance(argument, ast.Constant) else "?"
        return
    if called in ("_setup_train", "final_eval"):
        yield from steps(methods[called], methods)
        return
    if (
        isinstance(node, ast.AugAssign)
        and isinstance(node.op, ast.Add)
        and is_self(node.target, "epoch")
    ):
        yield "epoch += 1"
    if isinstance(node, ast.Assign) and any(
        is_self(t, "batch_size") for target in node.targets for t in ast.walk(target)
    ):
        yield "batch_size ="
    loop = isinstance(node, ast.While)
    if loop:
        yield "each epoch:"
    for child in ast.iter_child_nodes(node):
        yield from steps(child, methods)
    if loop:
        yield "end of epochs"


def do_train_steps() -> list[str]:
    methods = base_trainer()
    wanted = {*yolo.CALLBACKS, "each epoch:", "end of epochs", "epoch += 1", "batch_size ="}
    return [step for step in steps(methods["_do_train"], methods) if step in wanted]


def test_every_callback_the_hooks_use_is_one_ultralytics_fires() -> None:
    module = ultralytics_file("utils/callbacks/base.py")
    (table,) = (
        node.value
        for node in module.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "default_callbacks" for t in node.targets)
    )
    assert isinstance(table, ast.Dict)
    names = {key.value for key in table.keys if isinstance(key, ast.Constant)}
    missing = sorted(set(yolo.CALLBACKS) - names)
    assert not missing, f"Ultralytics no longer has the callbacks {missing}: the hooks never run"


def test_the_callbacks_fire_in_the_order_the_hooks_expect() -> None:
    found = [step for step in do_train_steps() if step != "batch_size ="]
    assert found == [
        "on_pretrain_routine_end",  # once, after set-up
        "each epoch:",
        "on_train_epoch_start",
        "on_train_batch_end",
        "on_model_save",
        "on_fit_epoch_end",
        "end of epochs",
        "epoch += 1",  # final_eval: best.pt validated, reported one epoch past the last
        "on_fit_epoch_end",
    ], "BaseTrainer._do_train fires the hooks' callbacks in another order now"


def test_the_batch_size_changes_only_where_the_hooks_see_it() -> None:
    """In set-up (AutoBatch), before the set-up is reported; or in the epoch loop (the retry
    after running out of memory), which starts over at on_train_epoch_start."""
    found = do_train_steps()
    reported, loop = found.index("on_pretrain_routine_end"), found.index("each epoch:")
    assert found[loop + 1] == "on_train_epoch_start"
    for index, step in enumerate(found):
        if step == "batch_size =":
            assert index < reported or loop < index < found.index("end of epochs"), (
                "BaseTrainer changes batch_size where the hooks do not see it"
            )


def test_stop_is_read_right_after_the_batch_hook() -> None:
    for node in ast.walk(base_trainer()["_do_train"]):
        body: list[Any] = getattr(node, "body", [])
        for before, after in itertools.pairwise(body):
            fired = isinstance(before, ast.Expr) and self_call(before.value) == "run_callbacks"
            if fired and before.value.args[0].value == "on_train_batch_end":
                assert isinstance(after, ast.If) and is_self(after.test, "stop"), (
                    "BaseTrainer no longer checks self.stop right after on_train_batch_end: "
                    "a stop request would not end the run"
                )
                return
    raise AssertionError("on_train_batch_end is not fired in BaseTrainer._do_train")


def test_an_exception_from_a_callback_leaves_the_trainer() -> None:
    methods = base_trainer()
    for name in ("run_callbacks", "_do_train"):
        handlers = [n for n in ast.walk(methods[name]) if isinstance(n, ast.ExceptHandler)]
        caught = [ast.unparse(h.type) for h in handlers if h.type is not None]
        assert all(kind == "RuntimeError" for kind in caught), (
            f"BaseTrainer.{name} catches {caught}: a pause (an exception from a callback) "
            "may not leave training"
        )
    assert not any(isinstance(n, ast.ExceptHandler) for n in ast.walk(methods["train"]))


def test_every_trainer_attribute_the_hooks_use_is_set_by_the_trainer() -> None:
    assigned = set()
    for method in base_trainer().values():
        for node in ast.walk(method):
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for part in (t for target in targets for t in ast.walk(target)):
                    if isinstance(part, ast.Attribute) and is_self(part, part.attr):
                        assigned.add(part.attr)
    missing = sorted(yolo.TRAINER_ATTRIBUTES - assigned)
    assert not missing, f"BaseTrainer no longer sets {missing}, which the hooks read"


def test_the_hooks_use_no_trainer_attribute_that_is_not_written_down() -> None:
    module = ast.parse(Path(yolo.__file__).read_text(encoding="utf-8"))
    used = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute) and ast.unparse(node.value).endswith("trainer"):
            used.add(node.attr)  # trainer.epoch, yolo.trainer.epochs
        if isinstance(node, ast.Call) and ast.unparse(node).startswith("getattr(trainer, "):
            used.add(node.args[1].value)  # type: ignore[attr-defined]
    assert used == yolo.TRAINER_ATTRIBUTES


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a real trainer, set up but not trained, shows the hooks."""
    ultralytics_file("__init__.py")  # skips without Ultralytics
    folder = tmp_path_factory.mktemp("probe")
    done = subprocess.run(
        [sys.executable, "-m", "tests.fixtures.trainer_probe", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def test_the_set_up_is_reported_with_the_batch_size_in_use(probe: dict[str, Any]) -> None:
    first, again = probe["events"]
    assert (first["type"], first["batch_size"], first["batches_per_epoch"]) == ("setup", 4, 4)
    assert (first["train_images"], first["val_images"]) == (16, 8)
    # After an out-of-memory retry halved it, the hooks report the batch Ultralytics uses.
    assert (again["type"], again["batch_size"], again["batches_per_epoch"]) == ("setup", 2, 8)


def test_validation_metrics_have_the_names_the_hooks_map(probe: dict[str, Any]) -> None:
    assert probe["metrics"] == ["mAP50", "mAP50-95", "precision", "recall"], probe["metric_keys"]
