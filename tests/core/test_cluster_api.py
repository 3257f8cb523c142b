"""The API module against a small HTTP server that answers as a Kubernetes API server does
(its Status documents, its status codes), through the real client: what is sent, and how
each refusal reaches the user."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from datayard.core.checks import State
from datayard.core.clusters.api import ClusterApi
from datayard.core.clusters.manifests import job_manifest, secret_manifest
from datayard.core.clusters.registry import Cluster
from datayard.core.errors import (
    ClusterConfigError,
    ClusterCredentialsError,
    ClusterForbiddenError,
    ClusterQuotaError,
    ClusterUnreachableError,
    NamespaceMissingError,
)
from datayard.core.training.cluster import check_cluster

RUN_ID = "20261207-101500-a1b2c3"
JOB = f"datayard-{RUN_ID}"
Answer = tuple[int, dict[str, Any]]


def status(code: int, message: str) -> Answer:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "code": code,
    }


class ApiServer:
    """Answers ``(METHOD, path)`` with what ``routes`` holds; 404 otherwise. Keeps the
    requests it received (path with its query, body parsed), and calls ``arrived`` with
    each (method, path) before answering it."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Answer] = {}
        self.received: list[tuple[str, str, Any]] = []
        self.arrived: Callable[[str, str], None] = lambda method, path: None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                path = self.path.split("?")[0]
                server.arrived(self.command, path)
                server.received.append((self.command, self.path, body))
                code, answer = server.routes.get(
                    (self.command, path), status(404, f"the server could not find {path}")
                )
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def kubeconfig(path: Path, server: str, context: str = "lab") -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "test-token"}}],
                "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
                "current-context": context,
            }
        )
    )
    return path


@pytest.fixture
def server() -> Iterator[ApiServer]:
    api = ApiServer()
    yield api
    api.close()


@pytest.fixture
def cluster(server: ApiServer, tmp_path: Path) -> Cluster:
    config = kubeconfig(tmp_path / "config", server.url)
    return Cluster(name="gpu", namespace="ml", image="worker:1", kubeconfig=str(config))


def allow(server: ApiServer, allowed: bool = True) -> None:
    server.routes[("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")] = (
        201,
        {"status": {"allowed": allowed}},
    )


def test_the_requests_sent_are_the_rendered_objects_and_an_existing_secret_is_replaced(
    server: ApiServer, cluster: Cluster
) -> None:
    secret = secret_manifest(cluster, "lab", b'{"secret": "x"}')
    job = job_manifest(cluster, RUN_ID, "lab", gpus=1)
    server.routes[("POST", "/api/v1/namespaces/ml/secrets")] = status(409, "already exists")
    server.routes[("PUT", "/api/v1/namespaces/ml/secrets/datayard-store-lab")] = (200, secret)
    server.routes[("POST", "/apis/batch/v1/namespaces/ml/jobs")] = (201, job)
    with ClusterApi(cluster) as api:
        api.apply_secret(secret)
        api.submit_job(job)
    assert server.received == [
        ("POST", "/api/v1/namespaces/ml/secrets", secret),
        ("PUT", "/api/v1/namespaces/ml/secrets/datayard-store-lab", secret),
        ("POST", "/apis/batch/v1/namespaces/ml/jobs", job),
    ]


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (status(401, "Unauthorized"), ClusterCredentialsError, "may have expired"),
        (
            status(403, 'jobs.batch is forbidden: User "ada" cannot create resource "jobs"'),
            ClusterForbiddenError,
            "you may not create jobs in namespace 'ml'",
        ),
        (
            status(403, "exceeded quota: gpu-quota, requested: requests.nvidia.com/gpu=1"),
            ClusterQuotaError,
            "out of quota",
        ),
        (
            status(404, 'namespaces "ml" not found'),
            NamespaceMissingError,
            "kubectl create namespace ml",
        ),
    ],
)
def test_each_refusal_is_named_with_its_fix(
    server: ApiServer, cluster: Cluster, answer: Answer, error: type[Exception], words: str
) -> None:
    server.routes[("POST", "/apis/batch/v1/namespaces/ml/jobs")] = answer
    with ClusterApi(cluster) as api, pytest.raises(error) as refused:
        api.submit_job(job_manifest(cluster, RUN_ID, "lab"))
    assert words in str(refused.value)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_api_server_that_does_not_answer_is_said_so(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "config", f"http://127.0.0.1:{closed_port()}")
    cluster = Cluster(name="gpu", namespace="ml", image="worker:1", kubeconfig=str(config))
    with ClusterApi(cluster) as api, pytest.raises(ClusterUnreachableError) as refused:
        api.submit_job(job_manifest(cluster, RUN_ID, "lab"))
    assert "does not answer (connection refused)" in str(refused.value)


def test_a_missing_kubeconfig_or_context_is_said_so_before_any_request(tmp_path: Path) -> None:
    missing = Cluster(name="g", namespace="ml", image="w", kubeconfig=str(tmp_path / "none"))
    with pytest.raises(ClusterConfigError, match="there is no kubeconfig at"):
        ClusterApi(missing)
    config = kubeconfig(tmp_path / "config", "http://127.0.0.1:1")
    other = Cluster(name="g", namespace="ml", image="w", kubeconfig=str(config), context="prod")
    with pytest.raises(ClusterConfigError, match="has no context 'prod'"):
        ClusterApi(other)


def test_cluster_test_answers_each_question_on_a_line(server: ApiServer, cluster: Cluster) -> None:
    server.routes[("GET", "/version/")] = (
        200,
        {"gitVersion": "v1.31.4", "major": "1", "minor": "31"},
    )
    allow(server)
    server.routes[("GET", "/api/v1/namespaces/ml")] = (200, {"metadata": {"name": "ml"}})
    node = {"metadata": {"name": "n1"}, "status": {"allocatable": {"nvidia.com/gpu": "4"}}}
    bare = {"metadata": {"name": "n2"}, "status": {"allocatable": {"cpu": "8"}}}
    server.routes[("GET", "/api/v1/nodes")] = (200, {"items": [node, bare]})
    checks = {c.name: c for c in check_cluster(cluster, "https://minio.lab:9000")}
    assert all(c.state is State.OK for c in checks.values()), checks
    assert "Kubernetes v1.31.4" in checks["api server"].detail
    assert "4 nvidia.com/gpu allocatable on 1 of 2 nodes" in checks["gpus"].detail
    assert "context 'lab'" in checks["kubeconfig"].detail


def test_cluster_test_names_the_permissions_missing_and_expired_credentials(
    server: ApiServer, cluster: Cluster
) -> None:
    server.routes[("GET", "/version/")] = (200, {"gitVersion": "v1.31.4"})
    allow(server, allowed=False)
    server.routes[("GET", "/api/v1/namespaces/ml")] = status(404, 'namespaces "ml" not found')
    server.routes[("GET", "/api/v1/nodes")] = status(403, "nodes is forbidden")
    checks = {c.name: c for c in check_cluster(cluster, "http://127.0.0.1:9000")}
    assert checks["permissions"].state is State.FAIL
    assert "may not create jobs" in checks["permissions"].detail
    assert "get pods/log" in checks["permissions"].detail
    assert checks["namespace"].state is State.FAIL
    assert checks["gpus"].state is State.WARN
    assert checks["store"].state is State.FAIL
    server.routes.pop(("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"))
    server.routes[("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")] = status(
        401, "Unauthorized"
    )
    lines = list(check_cluster(cluster, "https://minio.lab:9000"))
    failed = next(c for c in lines if c.state is State.FAIL)
    assert failed.name == "credentials"
    assert "log in again" in failed.hint


def pod(phase: str, **status_fields: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-12-07T10:15:00Z"},
        "spec": {"containers": [{"image": "registry.lab/worker:1"}]},
        "status": {"phase": phase, **status_fields},
    }


@pytest.mark.parametrize(
    ("job_status", "pods", "reason", "words"),
    [
        (
            {},
            [
                pod(
                    "Pending",
                    conditions=[
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                        }
                    ],
                )
            ],
            "Unschedulable",
            "Insufficient nvidia.com/gpu",
        ),
        (
            {},
            [
                pod(
                    "Pending",
                    containerStatuses=[
                        {
                            "state": {
                                "waiting": {"reason": "ImagePullBackOff", "message": "not found"}
                            }
                        }
                    ],
                )
            ],
            "ImagePullBackOff",
            "registry.lab/worker:1 cannot be pulled",
        ),
        (
            {
                "conditions": [
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
                ]
            },
            [
                pod(
                    "Failed",
                    containerStatuses=[
                        {"state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
                    ],
                )
            ],
            "OOMKilled",
            "more memory than the pod's limit",
        ),
        ({}, [pod("Failed", reason="Evicted", message="low on memory")], "Evicted", "evicted"),
        (
            {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]},
            [],
            "DeadlineExceeded",
            "deadline",
        ),
    ],
)
def test_a_runs_job_and_pod_are_told_in_plain_words(
    server: ApiServer,
    cluster: Cluster,
    job_status: dict[str, Any],
    pods: list[dict[str, Any]],
    reason: str,
    words: str,
) -> None:
    server.routes[("GET", f"/apis/batch/v1/namespaces/ml/jobs/{JOB}")] = (
        200,
        {"status": job_status},
    )
    server.routes[("GET", "/api/v1/namespaces/ml/pods")] = (200, {"items": pods})
    server.routes[("GET", "/api/v1/namespaces/ml/events")] = (200, {"items": []})
    with ClusterApi(cluster) as api:
        found = api.job_status(JOB, RUN_ID)
    assert found.reason == reason
    assert words in found.detail


def test_a_pod_the_quota_refused_and_a_job_that_is_gone_are_told(
    server: ApiServer, cluster: Cluster
) -> None:
    server.routes[("GET", f"/apis/batch/v1/namespaces/ml/jobs/{JOB}")] = (200, {"status": {}})
    server.routes[("GET", "/api/v1/namespaces/ml/pods")] = (200, {"items": []})
    refused = {"reason": "FailedCreate", "message": 'pods "x" is forbidden: exceeded quota: gpus'}
    server.routes[("GET", "/api/v1/namespaces/ml/events")] = (200, {"items": [refused]})
    with ClusterApi(cluster) as api:
        assert api.job_status(JOB, RUN_ID).reason == "QuotaExceeded"
        server.routes.pop(("GET", f"/apis/batch/v1/namespaces/ml/jobs/{JOB}"))
        assert api.job_status(JOB, RUN_ID).phase == "Missing"


def test_deleting_a_job_deletes_its_pod_too(server: ApiServer, cluster: Cluster) -> None:
    server.routes[("DELETE", f"/apis/batch/v1/namespaces/ml/jobs/{JOB}")] = (
        200,
        {"status": "Success"},
    )
    with ClusterApi(cluster) as api:
        api.delete_job(JOB)
    (method, path, _) = server.received[-1]
    assert (method, path) == (
        "DELETE",
        f"/apis/batch/v1/namespaces/ml/jobs/{JOB}?propagationPolicy=Background",
    )
