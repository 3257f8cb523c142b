"""The Secret and Job of a cluster run, validated against the official schemas of several
Kubernetes versions, strictly (a field Kubernetes does not know is an error)."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from datayard.core.clusters.manifests import (
    REDACTED,
    as_yaml,
    job_manifest,
    job_name,
    redacted,
    secret_manifest,
    secret_name,
)
from datayard.core.clusters.registry import Cluster
from datayard.core.errors import UsageError

VERSIONS = ("1.29", "1.32", kubernetes_validate.latest_version())
RUN_ID = "20261207-101500-a1b2c3"
SECRET = "s3cr3t-Very-Private-Key"
CREDENTIALS = json.dumps(
    {"profile": {"name": "lab", "endpoint": "https://minio.lab:9000"}, "secret": SECRET}
).encode()
BASE = Cluster(name="gpu", namespace="ml-team", image="registry.lab/ml/datayard-worker:0.1.0")


def valid(obj: dict[str, Any]) -> None:
    for version in VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


options = st.fixed_dictionaries(
    {},
    optional={
        "gpu_resource": st.sampled_from(["nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915"]),
        "node_selector": st.lists(
            st.sampled_from(["gpu=a100", "kubernetes.io/arch=amd64", "pool=", "zone=eu-1a"]),
            max_size=3,
            unique=True,
        ).map(tuple),
        "tolerations": st.lists(
            st.sampled_from(
                [
                    "nvidia.com/gpu:NoSchedule",
                    "dedicated=ml:NoExecute",
                    "spot=true:PreferNoSchedule",
                ]
            ),
            max_size=3,
            unique=True,
        ).map(tuple),
        "service_account": st.just("trainer"),
        "priority_class": st.just("high-priority"),
        "image_pull_secret": st.just("regcred"),
        "cache_pvc": st.just("datayard-cache"),
        "cpu": st.sampled_from(["500m", "2", "8"]),
        "memory": st.sampled_from(["16Gi", "64Gi"]),
        "shm_size": st.sampled_from(["1Gi", "8Gi"]),
        "backoff_limit": st.integers(0, 6),
        "ttl_seconds": st.integers(0, 604800),
        "context": st.just("lab-admin"),
    },
)


@settings(max_examples=12, deadline=None)
@given(options=options, gpus=st.integers(0, 8), profile=st.sampled_from(["lab", "Lab_EU.2"]))
def test_every_combination_of_options_renders_objects_every_version_accepts(
    options: dict[str, Any], gpus: int, profile: str
) -> None:
    cluster = Cluster(name="gpu", namespace="ml-team", image=BASE.image, **options).validated()
    secret = secret_manifest(cluster, profile, CREDENTIALS)
    job = job_manifest(cluster, RUN_ID, profile, gpus)
    valid(secret)
    valid(redacted(secret))
    valid(job)
    assert SECRET not in json.dumps(job)
    for obj in yaml.safe_load_all(as_yaml([redacted(secret), job])):
        valid(obj)


def pod_of(job: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


def test_the_job_runs_the_worker_from_the_store_with_the_contracted_environment() -> None:
    job = job_manifest(BASE.validated(), RUN_ID, "lab", gpus=2)
    pod = pod_of(job)
    (container,) = pod["containers"]
    assert job["metadata"]["name"] == f"datayard-{RUN_ID}"
    assert container["command"] == ["datayard", "worker", "--from-store", RUN_ID]
    env = {e["name"]: e for e in container["env"]}
    assert env["DATAYARD_CREDENTIALS"]["valueFrom"] == {
        "secretKeyRef": {"name": "datayard-store-lab", "key": "credentials.json"}
    }
    assert env["HOME"]["value"] == "/home/datayard"
    assert env["DATAYARD_RUNS"]["value"] == "/work/runs"
    assert "DATAYARD_CACHE" not in env
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels == {
            "app.kubernetes.io/name": "datayard-worker",
            "app.kubernetes.io/managed-by": "datayard",
            "app.kubernetes.io/instance": RUN_ID,
            "datayard.io/run": RUN_ID,
        }
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/dev/shm"] == "shm"
    assert volumes[mounts["/work"]]["emptyDir"] == {}


def test_a_job_without_gpus_asks_for_none_and_a_cache_claim_holds_the_work_and_the_cache() -> None:
    cluster = Cluster(
        name="cpu", namespace="ml", image=BASE.image, cache_pvc="datayard-cache"
    ).validated()
    pod = pod_of(job_manifest(cluster, RUN_ID, "lab"))
    (container,) = pod["containers"]
    assert not any("gpu" in k for k in container["resources"]["limits"])
    assert not any("gpu" in k for k in container["resources"]["requests"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for path in ("/work", "/cache"):
        claim = volumes[mounts[path]["name"]]["persistentVolumeClaim"]
        assert claim == {"claimName": "datayard-cache"}
    assert mounts["/work"]["subPath"] != mounts["/cache"]["subPath"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DATAYARD_CACHE"] == "/cache"
    assert env["DATAYARD_RUNS"] == "/work/runs"


def test_the_secret_holds_the_credentials_and_its_shown_form_does_not() -> None:
    secret = secret_manifest(BASE, "lab", CREDENTIALS)
    assert secret["metadata"]["name"] == "datayard-store-lab"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "datayard"
    assert json.loads(secret["stringData"]["credentials.json"])["secret"] == SECRET
    shown = as_yaml([redacted(secret)])
    assert SECRET not in shown
    assert yaml.safe_load(shown)["stringData"] == {"credentials.json": REDACTED}


def test_names_kubernetes_would_refuse_become_names_it_accepts_without_colliding() -> None:
    assert secret_name("lab") == "datayard-store-lab"
    assert secret_name("Lab_1") != secret_name("lab-1")
    assert secret_name("Lab_1").startswith("datayard-store-lab-1-")
    assert len(job_name("x" * 100)) <= 63


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"namespace": "ML"}, "--namespace 'ML' is not a Kubernetes name"),
        ({"namespace": "a" * 64}, "at most 63"),
        ({"image": "Registry/Team:latest"}, "not an image reference"),
        ({"image": "worker@sha256:abc"}, "not an image reference"),
        ({"gpu_resource": "nvidia.com/"}, "--gpu-resource"),
        ({"node_selector": ("gpu",)}, "KEY=VALUE"),
        ({"node_selector": ("gpu=a b",)}, "not a label value"),
        ({"tolerations": ("nvidia.com/gpu:Never",)}, "EFFECT one of"),
        ({"tolerations": ("bad key=x:NoSchedule",)}, "--toleration"),
        ({"service_account": "Trainer"}, "--service-account"),
        ({"cache_pvc": "cache_1"}, "--cache-pvc"),
        ({"cpu": "four"}, "--cpu 'four' is not a Kubernetes quantity"),
        ({"memory": "16GB"}, "--memory '16GB' is not a Kubernetes quantity"),
        ({"shm_size": "32Gi"}, "counts against the pod's memory"),
        ({"backoff_limit": -1}, "--backoff-limit -1 is negative"),
        ({"kubeconfig": "kube/config"}, "absolute path"),
        ({"name": "local"}, "means this computer"),
    ],
)
def test_each_value_kubernetes_would_refuse_is_refused_in_one_line(
    changes: dict[str, Any], words: str
) -> None:
    fields = {"name": "gpu", "namespace": "ml", "image": BASE.image, **changes}
    with pytest.raises(UsageError) as refused:
        Cluster(**fields).validated()
    assert words in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "image",
    [
        "datayard-worker",
        "registry.lab:5000/ml/datayard-worker:0.1.0",
        "localhost/worker:dev",
        "ghcr.io/team/worker@sha256:" + "a" * 64,
        "docker.io/library/worker:0.1.0@sha256:" + "0" * 64,
    ],
)
def test_image_references_as_registries_write_them_are_accepted(image: str) -> None:
    Cluster(name="gpu", namespace="ml", image=image).validated()
