"""The Kubernetes objects of a run, rendered as plain dicts: what ``train --dry-run``
prints and what :mod:`datayard.core.clusters.api` sends, unchanged.

Two objects per run. A Secret per storage profile, ``datayard-store-<profile>``, holds
the worker's store credentials (the document of
:mod:`datayard.core.training.credentials`) under ``credentials.json``; it is the only
place they are, and the Job names it, never its content. The Job runs the worker image
with ``datayard worker --from-store RUN-ID``: the worker reads the run's spec from the
store, trains, and mirrors its events and files there. Its pod runs as the image's
unprivileged user and satisfies the "restricted" Pod Security Standard.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml

from datayard.core.clusters.registry import Cluster

SECRET_KEY = "credentials.json"
CREDENTIALS_VARIABLE = "DATAYARD_CREDENTIALS"
WORKER_UID = 1000
WORKER_HOME = "/home/datayard"
WORK_MOUNT = "/work"
RUNS_FOLDER = f"{WORK_MOUNT}/runs"
CACHE_MOUNT = "/cache"
REDACTED = "REDACTED"
CONTAINER = "worker"
MANAGED_BY = {"app.kubernetes.io/managed-by": "datayard"}
RUN_LABEL = "datayard.io/run"

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def job_name(run_id: str) -> str:
    """``datayard-<run-id>``, lowercased, within the 63 characters a Job's pods allow."""
    return f"datayard-{run_id}".lower()[:63].rstrip("-.")


def secret_name(profile: str) -> str:
    """``datayard-store-<profile>``, as :func:`object_name` makes it."""
    return object_name("datayard-store", profile)


def object_name(prefix: str, name: str, limit: int = 253) -> str:
    """``<prefix>-<name>``; a name Kubernetes would refuse ("Lab_1") is lowercased, its
    other characters made '-', and a short hash of the name added, so that two such names
    never make one object's; cut to ``limit`` characters."""
    whole = f"{prefix}-{name}"
    if len(whole) <= limit and _SUBDOMAIN.fullmatch(whole):
        return whole
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    room = limit - len(prefix) - len(digest) - 2
    tidy = re.sub(r"[^a-z0-9]+", "-", name.lower())[:room].strip("-")
    return f"{prefix}-{tidy}-{digest}" if tidy else f"{prefix}-{digest}"


def run_labels(run_id: str) -> dict[str, str]:
    """The labels of a run's Job and pod: ``kubectl get pods -l datayard.io/run=RUN-ID``."""
    return {
        "app.kubernetes.io/name": "datayard-worker",
        **MANAGED_BY,
        "app.kubernetes.io/instance": run_id,
        RUN_LABEL: run_id,
    }


def secret_manifest(cluster: Cluster, profile: str, credentials: bytes) -> dict[str, Any]:
    """The Secret the pods of ``profile``'s runs read their store credentials from."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(profile),
            "namespace": cluster.namespace,
            "labels": {"app.kubernetes.io/name": "datayard-store", **MANAGED_BY},
            "annotations": {"datayard.io/profile": profile},
        },
        "type": "Opaque",
        "stringData": {SECRET_KEY: credentials.decode("utf-8")},
    }


def redacted(secret: dict[str, Any]) -> dict[str, Any]:
    """``secret`` as it may be shown: every value replaced by :data:`REDACTED`."""
    return {**secret, "stringData": dict.fromkeys(secret["stringData"], REDACTED)}


def job_manifest(cluster: Cluster, run_id: str, profile: str, gpus: int = 0) -> dict[str, Any]:
    """The Job that trains run ``run_id`` with ``gpus`` of the cluster's GPU resource."""
    labels = run_labels(run_id)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(run_id), "namespace": cluster.namespace, "labels": labels},
        "spec": {
            "backoffLimit": cluster.backoff_limit,
            "ttlSecondsAfterFinished": cluster.ttl_seconds,
            "template": {
                "metadata": {"labels": labels},
                "spec": _pod(cluster, run_id, profile, gpus),
            },
        },
    }


def _pod(cluster: Cluster, run_id: str, profile: str, gpus: int) -> dict[str, Any]:
    return pod_spec(cluster, _container(cluster, run_id, profile, gpus), _volumes(cluster))


def pod_spec(
    cluster: Cluster, container: dict[str, Any], volumes: list[dict[str, Any]]
) -> dict[str, Any]:
    """The pod of every Datayard Job: ``container`` run once, as the image's unprivileged
    user, placed and pulled as the cluster says."""
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        # The worker needs no Kubernetes API: no token of the service account in the pod.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKER_UID,
            "runAsGroup": WORKER_UID,
            "fsGroup": WORKER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    if cluster.service_account:
        pod["serviceAccountName"] = cluster.service_account
    if cluster.priority_class:
        pod["priorityClassName"] = cluster.priority_class
    if cluster.image_pull_secret:
        pod["imagePullSecrets"] = [{"name": cluster.image_pull_secret}]
    if cluster.node_selector:
        pod["nodeSelector"] = cluster.node_labels
    if cluster.tolerations:
        pod["tolerations"] = [t.manifest() for t in cluster.taints_tolerated]
    return pod


def _container(cluster: Cluster, run_id: str, profile: str, gpus: int) -> dict[str, Any]:
    requests: dict[str, str] = {"cpu": cluster.cpu, "memory": cluster.memory}
    limits: dict[str, str] = {"memory": cluster.memory}
    if gpus:
        requests[cluster.gpu_resource] = limits[cluster.gpu_resource] = str(gpus)
    env = [
        credentials_env(profile),
        {"name": "HOME", "value": WORKER_HOME},
        {"name": "DATAYARD_RUNS", "value": RUNS_FOLDER},
    ]
    mounts = [{"name": "shm", "mountPath": "/dev/shm"}]
    if cluster.cache_pvc:
        env.append({"name": "DATAYARD_CACHE", "value": CACHE_MOUNT})
        mounts += [
            {"name": "cache", "mountPath": WORK_MOUNT, "subPath": "work"},
            {"name": "cache", "mountPath": CACHE_MOUNT, "subPath": "cache"},
        ]
    else:
        mounts.append({"name": "work", "mountPath": WORK_MOUNT})
    return {
        "name": CONTAINER,
        "image": cluster.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["datayard", "worker", "--from-store", run_id],
        "env": env,
        "resources": {"requests": requests, "limits": limits},
        "volumeMounts": mounts,
        "securityContext": container_security(),
    }


def container_security() -> dict[str, Any]:
    """What the "restricted" Pod Security Standard asks of each container."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def credentials_env(profile: str) -> dict[str, Any]:
    """The variable that hands a container the store credentials of ``profile``'s Secret:
    the manifest names the Secret, never its content."""
    credentials = {"secretKeyRef": {"name": secret_name(profile), "key": SECRET_KEY}}
    return {"name": CREDENTIALS_VARIABLE, "valueFrom": credentials}


def _volumes(cluster: Cluster) -> list[dict[str, Any]]:
    shm = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": cluster.shm_size}}
    if cluster.cache_pvc:
        return [shm, {"name": "cache", "persistentVolumeClaim": {"claimName": cluster.cache_pvc}}]
    return [shm, {"name": "work", "emptyDir": {}}]


def as_yaml(objects: list[dict[str, Any]]) -> str:
    """The objects as one YAML stream, in the order ``kubectl apply -f`` would create them."""
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
