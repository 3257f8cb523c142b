"""The Kubernetes clusters this user has added: a name for each namespace runs go to.

A cluster is reached as ``kubectl`` reaches it: a kubeconfig file (the default one
unless named) and one of its contexts, whose tokens and exec plugins are used as they
are. What a run's Job needs besides (the worker image, the GPU resource, where its pods
may go) is kept here, so that ``train --on NAME`` needs nothing more. The list lives in
``clusters.toml`` beside the settings (:mod:`datayard.core.place_registry`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from datayard.core.clusters import names
from datayard.core.errors import ConfigError, UsageError
from datayard.core.place_registry import LOCAL_PLACE, PlaceRegistry, known_keys, typed

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_CPU = "4"
"""CPUs requested for a run: the worker and Ultralytics' data-loading processes."""
DEFAULT_MEMORY = "16Gi"
"""Memory requested, and its limit: /dev/shm, which the data loaders fill, counts in it."""
DEFAULT_SHM = "8Gi"
"""The size of /dev/shm: a container's default 64 MiB makes PyTorch's data loaders die
("bus error", "DataLoader worker is killed")."""
DEFAULT_BACKOFF_LIMIT = 0
"""A failed pod is not started again by Kubernetes: the run is failed with its cause, and
``resume`` continues it from its last checkpoint."""
DEFAULT_TTL_S = 86400
"""A finished Job and its pod (with its log) stay a day, then Kubernetes removes them."""
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Toleration:
    """``KEY[=VALUE]:EFFECT``: pods may go to nodes tainted so (GPU nodes often are)."""

    key: str
    value: str | None
    effect: str

    @classmethod
    def parse(cls, text: str) -> Toleration:
        taint, colon, effect = text.rpartition(":")
        key, equals, value = taint.partition("=")
        if not colon or effect not in EFFECTS:
            raise UsageError(
                f"--toleration {text!r}: write it as KEY[=VALUE]:EFFECT, EFFECT one of "
                f"{', '.join(EFFECTS)}"
            )
        names.qualified_name(key, f"--toleration {text!r}: key")
        if equals:
            names.label_value(value, f"--toleration {text!r}: value")
        return cls(key=key, value=value if equals else None, effect=effect)

    def manifest(self) -> dict[str, str]:
        if self.value is None:
            return {"key": self.key, "operator": "Exists", "effect": self.effect}
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


def node_label(text: str) -> tuple[str, str]:
    """``key=value`` of ``--node-selector``."""
    key, equals, value = text.partition("=")
    if not equals:
        raise UsageError(f"--node-selector {text!r}: write it as KEY=VALUE")
    names.qualified_name(key, f"--node-selector {text!r}: key")
    names.label_value(value, f"--node-selector {text!r}: value")
    return key, value


@dataclass(frozen=True)
class Cluster:
    """Where a run's Job goes and how its pod is shaped."""

    name: str
    namespace: str
    image: str
    kubeconfig: str = ""
    """The kubeconfig file; empty for kubectl's (``$KUBECONFIG``, else ~/.kube/config)."""
    context: str = ""
    """The kubeconfig's context; empty for its current one."""
    gpu_resource: str = DEFAULT_GPU_RESOURCE
    node_selector: tuple[str, ...] = ()
    """``key=value`` labels a node must have."""
    tolerations: tuple[str, ...] = ()
    """``KEY[=VALUE]:EFFECT`` taints a node may have."""
    service_account: str = ""
    priority_class: str = ""
    image_pull_secret: str = ""
    cache_pvc: str = ""
    """A PersistentVolumeClaim of the namespace that keeps datasets and runs between pods."""
    cpu: str = DEFAULT_CPU
    memory: str = DEFAULT_MEMORY
    shm_size: str = DEFAULT_SHM
    backoff_limit: int = DEFAULT_BACKOFF_LIMIT
    ttl_seconds: int = DEFAULT_TTL_S

    def validated(self) -> Cluster:
        if not _NAME.match(self.name) or self.name == LOCAL_PLACE:
            raise UsageError(
                f"cluster name {self.name!r} is not valid: use letters, digits, '.', '_' or '-'"
                + (f" ({LOCAL_PLACE!r} means this computer)" if self.name == LOCAL_PLACE else "")
            )
        names.dns_label(self.namespace, "--namespace")
        names.image(self.image)
        if self.kubeconfig and not self.kubeconfig.startswith(("/", "~")):
            raise UsageError(f"--kubeconfig {self.kubeconfig!r}: give the file's absolute path")
        if self.context != self.context.strip() or "\n" in self.context:
            raise UsageError(f"--context {self.context!r} is not a context name")
        names.qualified_name(self.gpu_resource, "--gpu-resource")
        for label in self.node_selector:
            node_label(label)
        for toleration in self.tolerations:
            Toleration.parse(toleration)
        for value, option in (
            (self.service_account, "--service-account"),
            (self.priority_class, "--priority-class"),
            (self.image_pull_secret, "--image-pull-secret"),
            (self.cache_pvc, "--cache-pvc"),
        ):
            if value:
                names.dns_subdomain(value, option)
        names.quantity(self.cpu, "--cpu")
        memory = names.quantity(self.memory, "--memory")
        if names.quantity(self.shm_size, "--shm-size") >= memory:
            raise UsageError(
                f"--shm-size {self.shm_size} is not less than --memory {self.memory}: what "
                "the data loaders put in /dev/shm counts against the pod's memory"
            )
        for number, option in (
            (self.backoff_limit, "--backoff-limit"),
            (self.ttl_seconds, "--ttl-seconds"),
        ):
            if number < 0:
                raise UsageError(f"{option} {number} is negative")
        return self

    @property
    def node_labels(self) -> dict[str, str]:
        return dict(node_label(label) for label in self.node_selector)

    @property
    def taints_tolerated(self) -> list[Toleration]:
        return [Toleration.parse(text) for text in self.tolerations]

    @property
    def shown(self) -> str:
        return f"cluster {self.name!r}"


_TYPES = {
    f.name: (str if f.type == "str" else int if f.type == "int" else tuple) for f in fields(Cluster)
}


class ClusterRegistry(PlaceRegistry[Cluster]):
    kind = "cluster"
    add_example = "datayard cluster add {name} --namespace NS --image IMAGE"

    def _fields(self, place: Cluster) -> dict[str, Any]:
        defaults = Cluster(name="", namespace="", image="")
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(place).items()
            if key != "name" and value != getattr(defaults, key)
        }

    def _parse(self, name: str, fields: dict[str, Any]) -> Cluster:
        table = f"clusters.{name}"
        known_keys(self.path, table, fields, set(_TYPES) - {"name"})
        for key in ("namespace", "image"):
            if not isinstance(fields.get(key), str):
                raise ConfigError(f"{self.path}: [{table}] needs a {key}")
        values: dict[str, Any] = {}
        for key in fields:
            kind = _TYPES[key]
            if kind is tuple:
                items = typed(self.path, table, fields, key, list, [])
                if not all(isinstance(item, str) for item in items):
                    raise ConfigError(f"{self.path}: [{table}].{key} must be a list of strings")
                values[key] = tuple(items)
            else:
                values[key] = typed(self.path, table, fields, key, kind, None)
        return Cluster(name=name, **values)
