"""A rule's passes run by a Kubernetes cluster: a CronJob, for teams that archive
server-side.

Its pod runs the same pass as a timer does, ``datayard archive run --from-environment``,
in the cluster's worker image, shaped and placed as a training run's pod is
(:func:`datayard.core.clusters.manifests.pod_spec`). The pod has no rules file: the
rule is in the manifest, its JSON in :data:`RULE_VARIABLE`; it holds no secret (a
rule names a profile, nothing more). The store's credentials come from the Secret
that the profile's training runs use, by reference (``archive install --apply``
creates or updates it as a launch does). The shared drive is mounted
read-only at the rule's root, so that the rule, its dataset folders and the names
they make are the same as on the machine that added it.

Kubernetes, not Datayard, schedules: ``concurrencyPolicy: Forbid`` starts no pass
while one runs (the pass's lock in the store refuses one started elsewhere), and a
run the controller missed starts late within :data:`STARTING_DEADLINE_S`. A pass that
ran and exited with its verdict (1: a dataset failed, the store failed, or another
pass holds the lock; 2: the rule or the credentials are wrong) is not retried: the
next run is the retry.
A pod that crashed or was evicted is, once.
"""

from __future__ import annotations

import json
import os
from pathlib import PurePosixPath
from typing import Any

from datayard.core.archive.rules import Rule, rule_from_json
from datayard.core.clusters import names
from datayard.core.clusters.manifests import (
    MANAGED_BY,
    WORKER_HOME,
    container_security,
    credentials_env,
    object_name,
    pod_spec,
)
from datayard.core.clusters.registry import Cluster
from datayard.core.errors import UsageError

RULE_VARIABLE = "DATAYARD_ARCHIVE_RULE"
CONTAINER = "archive"
COMMAND = ("datayard", "archive", "run", "--from-environment")
CPU = "1"
MEMORY = "4Gi"
"""A pass hashes files and sends blobs, several at a time: no GPU, a few CPUs' work."""
STATE_MOUNT = "/state"
"""Where the scan's hash cache is kept on the cluster's cache claim, when it has one:
without it each pass hashes every file again (and still publishes nothing unchanged)."""
STARTING_DEADLINE_S = 3600
BACKOFF_LIMIT = 1
HISTORY_LIMIT = 3
NAME_LIMIT = 52
"""A CronJob's name leaves room for the 11 characters its Jobs add."""
SHARE_VOLUME = "share"


def cronjob_name(rule: str) -> str:
    return object_name("datayard-archive", rule, NAME_LIMIT)


def drive_volume(nfs: str | None, pvc: str | None) -> dict[str, Any]:
    """The shared drive as a read-only volume source: ``--nfs SERVER:/PATH`` or
    ``--pvc CLAIM`` (a claim of any driver, an SMB CSI one for a Windows share)."""
    if (nfs is None) == (pvc is None):
        raise UsageError("name the shared drive's volume: --nfs SERVER:/PATH or --pvc CLAIM")
    if pvc is not None:
        claim = names.dns_subdomain(pvc, "--pvc")
        return {"persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
    assert nfs is not None
    server, colon, path = nfs.partition(":")
    if not colon or not server or not path.startswith("/"):
        raise UsageError(f"--nfs {nfs!r}: write it as SERVER:/PATH, like nas.lab:/export/cv")
    return {"nfs": {"server": server, "path": path, "readOnly": True}}


def cronjob_manifest(
    cluster: Cluster, rule: Rule, profile: str, drive: dict[str, Any]
) -> dict[str, Any]:
    """The CronJob that runs ``rule``'s passes on ``cluster``, with the store credentials
    of ``profile``'s Secret and the shared drive of ``drive`` (see :func:`drive_volume`)."""
    if not PurePosixPath(rule.root).is_absolute():
        raise UsageError(
            f"rule {rule.name}: its root {rule.root} is not a Linux path, where a pod "
            "mounts the share; add a rule whose root is the share's path on Linux"
        )
    name = cronjob_name(rule.name)
    labels = {
        "app.kubernetes.io/name": "datayard-archive",
        **MANAGED_BY,
        "app.kubernetes.io/instance": name,
    }
    volumes = [{"name": SHARE_VOLUME, **drive}]
    if cluster.cache_pvc:
        volumes.append({"name": "state", "persistentVolumeClaim": {"claimName": cluster.cache_pvc}})
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": name,
            "namespace": cluster.namespace,
            "labels": labels,
            "annotations": {"datayard.io/archive-rule": rule.name},
        },
        "spec": {
            "schedule": rule.parsed_schedule.cron(),
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_S,
            "successfulJobsHistoryLimit": HISTORY_LIMIT,
            "failedJobsHistoryLimit": HISTORY_LIMIT,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": BACKOFF_LIMIT,
                    "podFailurePolicy": {
                        "rules": [
                            {
                                "action": "FailJob",
                                "onExitCodes": {
                                    "containerName": CONTAINER,
                                    "operator": "In",
                                    "values": [1, 2],
                                },
                            }
                        ]
                    },
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": pod_spec(cluster, _container(cluster, rule, profile), volumes),
                    },
                },
            },
        },
    }


def _container(cluster: Cluster, rule: Rule, profile: str) -> dict[str, Any]:
    env = [
        credentials_env(profile),
        {"name": RULE_VARIABLE, "value": json.dumps(rule.as_dict(), separators=(",", ":"))},
        {"name": "HOME", "value": WORKER_HOME},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": SHARE_VOLUME, "mountPath": rule.root, "readOnly": True}
    ]
    if cluster.cache_pvc:
        env.append({"name": "XDG_STATE_HOME", "value": STATE_MOUNT})
        mounts.append(
            {"name": "state", "mountPath": STATE_MOUNT, "subPath": f"archive/{rule.name}"}
        )
    return {
        "name": CONTAINER,
        "image": cluster.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(COMMAND),
        "env": env,
        "resources": {"requests": {"cpu": CPU, "memory": MEMORY}, "limits": {"memory": MEMORY}},
        "volumeMounts": mounts,
        "securityContext": container_security(),
    }


def rule_from_environment() -> Rule:
    """The rule a CronJob's pod is given; :class:`UsageError` when it is not there."""
    raw = os.environ.get(RULE_VARIABLE)
    if not raw:
        raise UsageError(
            f"{RULE_VARIABLE} is not set: --from-environment runs the rule a CronJob's pod "
            "is given there (datayard archive install NAME --kubernetes CLUSTER)"
        )
    return rule_from_json(raw, f"${RULE_VARIABLE}")
