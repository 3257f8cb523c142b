"""The one module that talks to a cluster's API server, through the official client.

The kubeconfig and its context are read as kubectl reads them (tokens, client
certificates, exec plugins). Objects go out as the dicts that
:mod:`datayard.core.clusters.manifests` renders and come back as the JSON the server
sends: nothing is translated into the client's model classes, so what is sent is what
the schema tests validate. Every failure becomes a :class:`ClusterError` with the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datayard.core.checks import Check, State
from datayard.core.clusters.job_status import GONE, JobStatus, job_status
from datayard.core.clusters.manifests import RUN_LABEL
from datayard.core.clusters.registry import Cluster
from datayard.core.errors import (
    ClusterConfigError,
    ClusterCredentialsError,
    ClusterError,
    ClusterForbiddenError,
    ClusterQuotaError,
    ClusterUnreachableError,
    NamespaceMissingError,
)

TIMEOUT_S = (10.0, 30.0)
"""Seconds to connect and to wait for each answer."""

PERMISSIONS = (
    ("create", "batch", "jobs", ""),
    ("get", "batch", "jobs", ""),
    ("delete", "batch", "jobs", ""),
    ("create", "", "secrets", ""),
    ("update", "", "secrets", ""),
    ("get", "", "pods", ""),
    ("list", "", "pods", ""),
    ("get", "", "pods", "log"),
)
"""What launching, watching and deleting a run's Job needs in its namespace."""


@dataclass(frozen=True)
class Target:
    """What the kubeconfig says about the cluster: for messages."""

    kubeconfig: str
    context: str
    server: str


class ClusterApi:
    """One cluster's API, for the namespace its profile names; each request waits
    ``timeout_s`` (to connect, and for the answer)."""

    def __init__(self, cluster: Cluster, timeout_s: tuple[float, float] = TIMEOUT_S) -> None:
        from kubernetes import client, config

        self.cluster = cluster
        self.timeout_s = timeout_s
        self.target = _target(cluster)
        configuration = client.Configuration()
        configuration.retries = 1
        with _config_errors(self.target):
            self._client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=self.target.kubeconfig,
                context=cluster.context or None,
                persist_config=False,
                client_configuration=configuration,
            )
            _, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                config_file=self.target.kubeconfig
            )
        context = cluster.context or str(current["name"])
        self.target = Target(self.target.kubeconfig, context, configuration.host)
        self._core = client.CoreV1Api(self._client)
        self._batch = client.BatchV1Api(self._client)
        self._auth = client.AuthorizationV1Api(self._client)
        self._version = client.VersionApi(self._client)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ClusterApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self) -> Iterator[Check]:
        """``cluster test``'s answers; the list ends at the first that the rest depend on."""
        namespace = self.cluster.namespace
        where = f"context {self.target.context!r} of {self.target.kubeconfig}"
        yield Check("kubeconfig", State.OK, f"{where}, server {self.target.server}")
        try:
            version = self._call("get", "the server's version", self._version.get_code)
        except ClusterError as error:
            yield Check("api server", State.FAIL, error.message, error.hint)
            return
        yield Check("api server", State.OK, f"answers: Kubernetes {version['gitVersion']}")
        try:
            denied = [p for p in PERMISSIONS if not self._allowed(*p)]
        except ClusterError as error:
            yield Check("credentials", State.FAIL, error.message, error.hint)
            return
        yield Check("credentials", State.OK, "accepted")
        yield self._namespace_check()
        if denied:
            yield Check(
                "permissions",
                State.FAIL,
                f"in namespace {namespace!r} you may not {', '.join(_said(*p) for p in denied)}",
                "ask the cluster's administrator for a Role (and RoleBinding) in namespace "
                f"{namespace!r} that allows: {'; '.join(_said(*p) for p in PERMISSIONS)}",
            )
        else:
            yield Check("permissions", State.OK, "create Jobs and Secrets, read pods and logs")
        yield self._gpu_check()

    def apply_secret(self, secret: dict[str, Any]) -> None:
        """Create the Secret, or replace it when it exists (credentials change)."""
        self._apply(
            "secrets",
            secret,
            self._core.create_namespaced_secret,
            self._core.replace_namespaced_secret,
        )

    def apply_cronjob(self, cronjob: dict[str, Any]) -> bool:
        """Create the CronJob, or replace it when it exists (the rule changed); whether it
        existed. Jobs it started already run on as they were."""
        return self._apply(
            "cronjobs",
            cronjob,
            self._batch.create_namespaced_cron_job,
            self._batch.replace_namespaced_cron_job,
        )

    def delete_cronjob(self, name: str) -> bool:
        """Delete the CronJob, and the Jobs and pods it started; whether there was one."""
        return self._delete("cronjobs", self._batch.delete_namespaced_cron_job, name)

    def _delete(self, resource: str, delete: Any, name: str) -> bool:
        """Delete the object and what it owns (in the background); whether there was one."""
        try:
            self._call(
                "delete",
                resource,
                delete,
                name,
                self.cluster.namespace,
                propagation_policy="Background",
            )
        except ClusterError as error:
            if _status(error) == 404 and not isinstance(error, NamespaceMissingError):
                return False
            raise
        return True

    def _apply(self, resource: str, body: dict[str, Any], create: Any, replace: Any) -> bool:
        """Create ``body``, or replace the object of its name when there is one (an
        unconditional update: the last one sent wins); whether there was one."""
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        try:
            self._call("create", resource, create, namespace, body)
        except ClusterError as error:
            if _status(error) != 409:
                raise
            self._call("update", resource, replace, name, namespace, body)
            return True
        return False

    def submit_job(self, job: dict[str, Any]) -> None:
        self._call(
            "create", "jobs", self._batch.create_namespaced_job, job["metadata"]["namespace"], job
        )

    def job_status(self, name: str, run_id: str) -> JobStatus:
        """The Job's state and its pod's, in plain words (:mod:`.job_status`)."""
        namespace = self.cluster.namespace
        try:
            job = self._call("get", "jobs", self._batch.read_namespaced_job, name, namespace)
        except ClusterError as error:
            if _status(error) == 404 and not isinstance(error, NamespaceMissingError):
                return GONE
            raise
        pods = self.pods(run_id)
        events: list[dict[str, Any]] = []
        if not pods:
            # Events only explain a pod that was not created: not worth a refusal.
            with suppress(ClusterForbiddenError):
                events = self._call(
                    "list",
                    "events",
                    self._core.list_namespaced_event,
                    namespace,
                    field_selector=f"involvedObject.kind=Job,involvedObject.name={name}",
                )["items"]
        return job_status(job, pods, events)

    def pods(self, run_id: str) -> list[dict[str, Any]]:
        """The run's pods, by its label: those of its Job, and any still ending after it."""
        return list(
            self._call(
                "list",
                "pods",
                self._core.list_namespaced_pod,
                self.cluster.namespace,
                label_selector=f"{RUN_LABEL}={run_id}",
            )["items"]
        )

    def delete_job(self, name: str) -> bool:
        """Delete the Job and its pod: the worker is ended at once, wherever it was.
        Whether there was one (Kubernetes removes a Job a while after it ended)."""
        return self._delete("jobs", self._batch.delete_namespaced_job, name)

    def _allowed(self, verb: str, group: str, resource: str, subresource: str) -> bool:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": self.cluster.namespace,
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                    "subresource": subresource,
                }
            },
        }
        answer = self._call(
            "create",
            "selfsubjectaccessreviews",
            self._auth.create_self_subject_access_review,
            review,
        )
        return bool((answer.get("status") or {}).get("allowed"))

    def _namespace_check(self) -> Check:
        namespace = self.cluster.namespace
        try:
            self._call("get", "namespaces", self._core.read_namespace, namespace)
        except NamespaceMissingError as error:
            return Check("namespace", State.FAIL, error.message, error.hint)
        except ClusterForbiddenError:
            return Check(
                "namespace",
                State.WARN,
                f"{namespace!r}: you may not read namespaces, so whether it exists is unknown",
            )
        return Check("namespace", State.OK, f"{namespace!r} exists")

    def _gpu_check(self) -> Check:
        resource = self.cluster.gpu_resource
        try:
            nodes = self._call("list", "nodes", self._core.list_node)["items"]
        except ClusterForbiddenError:
            return Check(
                "gpus", State.WARN, "you may not list nodes: the cluster's GPUs are unknown"
            )
        counts = {
            n["metadata"]["name"]: _count(
                (n.get("status") or {}).get("allocatable", {}).get(resource)
            )
            for n in nodes
        }
        offering = {name: count for name, count in counts.items() if count}
        if not offering:
            return Check(
                "gpus",
                State.WARN,
                f"no node offers {resource} ({len(nodes)} nodes)",
                "runs train on the CPU; check --gpu-resource against `kubectl describe nodes`",
            )
        return Check(
            "gpus",
            State.OK,
            f"{sum(offering.values())} {resource} allocatable on {len(offering)} of "
            f"{len(nodes)} nodes (largest: {max(offering.values())} on one node)",
        )

    def _call(self, verb: str, resource: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        """``method`` called, its answer's JSON; failures as :class:`ClusterError`."""
        with _translated(verb, resource, self.cluster.namespace, self.target):
            answer = method(
                *args, _preload_content=False, _request_timeout=self.timeout_s, **kwargs
            )
            return json.loads(answer.data or b"{}")


def _target(cluster: Cluster) -> Target:
    """The kubeconfig file that kubectl would read, and the context named or current."""
    import os

    from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION

    path = cluster.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    kubeconfig = str(Path(path or KUBE_CONFIG_DEFAULT_LOCATION).expanduser())
    return Target(kubeconfig, cluster.context or "(current)", "")


@contextmanager
def _config_errors(target: Target) -> Iterator[None]:
    from kubernetes.config.config_exception import ConfigException

    if not Path(target.kubeconfig).is_file():
        raise ClusterConfigError(
            f"there is no kubeconfig at {target.kubeconfig}",
            "give the file your cluster's administrator gave you with --kubeconfig PATH, or "
            "set up kubectl first (`kubectl config view` shows what it reads)",
        )
    try:
        yield
    except ConfigException as error:
        text = str(error)
        if "Expected object with name" in text and "contexts" in text:
            raise ClusterConfigError(
                f"{target.kubeconfig} has no context {target.context!r}",
                "`kubectl config get-contexts` lists them; choose one with --context",
            ) from error
        raise ClusterConfigError(
            f"{target.kubeconfig} cannot be used: {text}",
            "check it with `kubectl config view`; an exec plugin must be on the PATH",
        ) from error


@contextmanager
def _translated(
    verb: str, resource: str, namespace: str, target: Target | None = None
) -> Iterator[None]:
    """The client's and urllib3's failures as :class:`ClusterError`, chained."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    server = target.server if target else "the API server"
    try:
        yield
    except ApiException as error:
        raise _refused(error, verb, resource, namespace, target) from error
    except HTTPError as error:
        raise ClusterUnreachableError(
            f"the API server at {server} does not answer ({_root(error)})",
            "check that the cluster is up and reachable from here (VPN, network), and the "
            "server address of the context (`kubectl cluster-info`)",
        ) from error


def _refused(
    error: Any, verb: str, resource: str, namespace: str, target: Target | None
) -> ClusterError:
    message = _message(error)
    context = target.context if target else "the kubeconfig's"
    if error.status == 401:
        return ClusterCredentialsError(
            f"the API server refused the credentials of context {context!r} (401 Unauthorized)",
            "they may have expired: log in again as your cluster asks (a new token, the exec "
            "plugin's login), then check with `kubectl auth whoami`",
        )
    if error.status == 403 and "exceeded quota" in message:
        return ClusterQuotaError(
            f"namespace {namespace!r} is out of quota: {message}",
            "ask for fewer GPUs or less memory, or wait for other pods of the namespace to end",
        )
    if error.status == 403:
        return ClusterForbiddenError(
            f"you may not {verb} {resource} in namespace {namespace!r} (403 Forbidden)",
            f"ask the cluster's administrator for a Role that allows '{verb}' on '{resource}'",
        )
    if error.status == 404 and f'namespaces "{namespace}" not found' in message:
        return NamespaceMissingError(
            f"the cluster has no namespace {namespace!r}",
            f"create it (`kubectl create namespace {namespace}`) or add the cluster again "
            "with the namespace you were given",
        )
    return ClusterError(f"the API server answered {error.status} to {verb} {resource}: {message}")


def _message(error: Any) -> str:
    """The Status object's message, else the HTTP reason."""
    try:
        body = json.loads(error.body or b"{}")
    except ValueError:
        body = {}
    text = body.get("message") if isinstance(body, dict) else None
    return str(text or error.reason or "no reason given")


def _root(error: BaseException) -> str:
    """The deepest cause of a urllib3 failure, which names it (refused, not resolved)."""
    reason = getattr(error, "reason", None)
    while isinstance(reason, BaseException) and getattr(reason, "reason", None) is not None:
        reason = getattr(reason, "reason", None)
    text = str(reason or error)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "its name does not resolve"
    return text


def _status(error: ClusterError) -> int:
    """The HTTP status the API server answered with; 0 when it did not answer."""
    return int(getattr(error.__cause__, "status", 0) or 0)


def _said(verb: str, group: str, resource: str, subresource: str) -> str:
    return f"{verb} {resource}/{subresource}" if subresource else f"{verb} {resource}"


def _count(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
