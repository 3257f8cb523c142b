"""What a host must offer before a run starts there: refused with the reason, or let through."""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version

import pytest

from datayard.core.errors import UsageError
from datayard.core.hosts.probe import Gpu, HostFacts
from datayard.core.hosts.registry import Host
from datayard.core.training.spec import TrainSpec
from datayard.core.training.ssh import check_host

HOST = Host(name="gpu1", destination="me@gpu-box")
GPU = Gpu(
    index=0,
    name="NVIDIA L4",
    memory_total_mib=23034,
    memory_free_mib=22000,
    driver="570",
    cuda="12.8",
)
READY = HostFacts(
    python="/usr/bin/python3",
    python_version=(3, 11, 2),
    data_folder="/srv/datayard",
    gpus=(GPU,),
    gpu_error="",
    disk_free=200 * 1024**3,
    store_reachable=True,
    store_error="",
    worker_python="/srv/datayard/worker/x/bin/python",
    worker={"datayard": version("datayard"), "torch": "2.14.1", "ultralytics": "8.4.1"},
    worker_error="",
)


def spec(device: str) -> TrainSpec:
    return TrainSpec(dataset="me/cats@1", device=device)


@pytest.mark.parametrize("device", ["auto", "cpu", "0", "cuda", "cuda:0"])
def test_a_host_that_has_what_the_run_asks_for_takes_it(device: str) -> None:
    check_host(HOST, READY, spec(device))


@pytest.mark.parametrize(
    ("facts", "device", "reason"),
    [
        (
            replace(READY, worker=None, worker_error="not set up"),
            "auto",
            "datayard host setup gpu1",
        ),
        (replace(READY, worker={**READY.worker, "datayard": "0.0.1"}), "auto", "0.0.1"),
        (replace(READY, gpus=(), gpu_error="no nvidia-smi"), "0", "has no GPU (no nvidia-smi)"),
        (replace(READY, gpus=(), gpu_error="no nvidia-smi"), "cuda", "--device cpu"),
        (READY, "0,1", "has 1 GPU(s) (0 to 0)"),
        (READY, "cuda:3", "asks for device cuda:3"),
        (replace(READY, disk_free=300 * 1024**2), "auto", "300.0 MiB free"),
    ],
)
def test_a_host_that_cannot_take_the_run_is_refused_with_the_reason(
    facts: HostFacts, device: str, reason: str
) -> None:
    with pytest.raises(UsageError) as refused:
        check_host(HOST, facts, spec(device))
    assert reason in str(refused.value)
