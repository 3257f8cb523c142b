"""``datayard cluster``: the Kubernetes clusters runs train on as Jobs."""

from __future__ import annotations

import sys

import click
from rich.table import Table
from rich.text import Text

from datayard.core.clusters.api import ClusterApi
from datayard.core.clusters.registry import (
    DEFAULT_BACKOFF_LIMIT,
    DEFAULT_CPU,
    DEFAULT_GPU_RESOURCE,
    DEFAULT_MEMORY,
    DEFAULT_SHM,
    DEFAULT_TTL_S,
    Cluster,
    ClusterRegistry,
)
from datayard.core.store.workspace import Workspace
from datayard.core.training.cluster import check_cluster

from .render import console, out, show_checks
from .versions import profile_option


@click.group(name="cluster")
def command() -> None:
    """Kubernetes clusters that train runs as Jobs: add, list, remove and test them.

    A cluster is reached as kubectl reaches it: a kubeconfig file and one of its
    contexts, with its tokens and exec plugins.
    """


@command.command()
@click.argument("name")
@click.option("--namespace", required=True, help="The namespace the runs' Jobs go to.")
@click.option("--image", required=True, help="The worker image (see packaging/worker/).")
@click.option("--kubeconfig", default="", help="The kubeconfig file [default: kubectl's].")
@click.option("--context", default="", help="Its context [default: its current one].")
@click.option("--gpu-resource", default=DEFAULT_GPU_RESOURCE, show_default=True)
@click.option(
    "--node-selector", multiple=True, metavar="KEY=VALUE", help="Node label (repeatable)."
)
@click.option(
    "--toleration",
    multiple=True,
    metavar="KEY[=VALUE]:EFFECT",
    help="A node taint the pods tolerate (repeatable).",
)
@click.option("--service-account", default="", help="The pods' service account.")
@click.option("--priority-class", default="", help="The pods' priority class.")
@click.option("--image-pull-secret", default="", help="The Secret that pulls the image.")
@click.option("--cache-pvc", default="", help="A claim that keeps datasets and runs between pods.")
@click.option("--cpu", default=DEFAULT_CPU, show_default=True, help="CPUs requested per run.")
@click.option(
    "--memory",
    default=DEFAULT_MEMORY,
    show_default=True,
    help="Memory per run (request and limit).",
)
@click.option("--shm-size", default=DEFAULT_SHM, show_default=True, help="/dev/shm, in memory.")
@click.option("--backoff-limit", type=int, default=DEFAULT_BACKOFF_LIMIT, show_default=True)
@click.option("--ttl-seconds", type=int, default=DEFAULT_TTL_S, show_default=True)
def add(
    name: str,
    kubeconfig: str,
    node_selector: tuple[str, ...],
    toleration: tuple[str, ...],
    **values: str | int,
) -> None:
    """Add cluster NAME: the kubeconfig and context are checked, the cluster is not
    contacted (`datayard cluster test NAME` does that)."""
    registry = ClusterRegistry(Workspace.default().dirs.config)
    cluster = Cluster(
        name=name,
        kubeconfig=kubeconfig,
        node_selector=node_selector,
        tolerations=toleration,
        **values,  # type: ignore[arg-type]
    ).validated()
    registry.check_new(name)
    ClusterApi(cluster).close()
    registry.add(cluster)
    console.print(
        Text.assemble("Added cluster ", (name, "bold"), f" (namespace {cluster.namespace}).")
    )


@command.command(name="list")
def list_clusters() -> None:
    """The clusters added, with their namespaces and images."""
    clusters = ClusterRegistry(Workspace.default().dirs.config).all()
    if not clusters:
        console.print(
            Text(
                "No clusters yet; add one with 'datayard cluster add NAME --namespace NS "
                "--image IMAGE'."
            )
        )
        return
    table = Table("Cluster", "Context", "Namespace", "Image", "GPU resource")
    for cluster in clusters:
        table.add_row(
            Text(cluster.name),
            Text(cluster.context or "(current)"),
            Text(cluster.namespace),
            Text(cluster.image),
            Text(cluster.gpu_resource),
        )
    out.print(table)


@command.command()
@click.argument("name")
def remove(name: str) -> None:
    """Forget cluster NAME (runs that trained there stay listed; nothing on it changes)."""
    ClusterRegistry(Workspace.default().dirs.config).remove(name)
    console.print(Text.assemble("Removed cluster ", (name, "bold"), "."))


@command.command(name="test")
@click.argument("name")
@profile_option
def test(name: str, profile_name: str | None) -> None:
    """Check cluster NAME: kubeconfig, API server, credentials, namespace, permissions,
    GPUs, and the store the pods are given.

    Exit status 1 when a check fails; warnings do not fail.
    """
    workspace = Workspace.default()
    cluster = ClusterRegistry(workspace.dirs.config).get(name)
    if not show_checks(check_cluster(cluster, workspace.endpoint(profile_name))):
        sys.exit(1)
