"""What a run's Job and pod say, in plain words: why it waits, why it failed.

Kubernetes spreads the answer over the Job's conditions, the pod's phase, its
conditions and its container's waiting or terminated state, and the Job's events
(a pod the namespace's quota refused is only an event). This reads those objects
as the API server sends them (JSON) and keeps the one reason that matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MISSING = "Missing"
QUOTA = "QuotaExceeded"
_PULL = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")


@dataclass(frozen=True)
class JobStatus:
    phase: str
    """``Pending``, ``Running``, ``Succeeded``, ``Failed``, or ``Missing`` (no such Job)."""
    reason: str = ""
    """Kubernetes' own word for it (``Unschedulable``, ``OOMKilled``...); empty when all
    is well."""
    detail: str = ""
    """The reason in plain words, with what to do when something can be done."""


GONE = JobStatus(
    MISSING,
    MISSING,
    "the Job is gone: it was deleted, or removed by Kubernetes a while after it ended",
)


def job_status(
    job: dict[str, Any], pods: list[dict[str, Any]], events: list[dict[str, Any]]
) -> JobStatus:
    """The status of ``job`` from its pods (the newest decides) and its events."""
    failed = _condition(job, "Failed")
    if failed is not None:
        return _job_failed(failed, pods)
    if _condition(job, "Complete") is not None:
        return JobStatus("Succeeded")
    if not pods:
        return _no_pod(events)
    return _pod_status(max(pods, key=_created))


def _job_failed(condition: dict[str, Any], pods: list[dict[str, Any]]) -> JobStatus:
    reason = condition.get("reason") or "Failed"
    if pods:
        pod = _pod_status(max(pods, key=_created))
        if pod.reason:
            return JobStatus("Failed", pod.reason, pod.detail)
    if reason == "DeadlineExceeded":
        return JobStatus("Failed", reason, "the Job ran longer than its deadline and was stopped")
    if reason == "BackoffLimitExceeded":
        return JobStatus("Failed", reason, "its pod failed and the Job has no retries left")
    return JobStatus("Failed", reason, condition.get("message") or "the Job failed")


def _no_pod(events: list[dict[str, Any]]) -> JobStatus:
    refused = [e for e in events if e.get("reason") == "FailedCreate"]
    if refused:
        message = str(refused[-1].get("message") or "")
        if "exceeded quota" in message:
            return JobStatus(
                "Pending",
                QUOTA,
                f"the namespace's quota leaves no room for the pod ({message}); ask for fewer "
                "GPUs or less memory, or wait for other pods of the namespace to end",
            )
        return JobStatus("Pending", "FailedCreate", f"its pod cannot be created: {message}")
    return JobStatus("Pending", "", "waiting for its pod to be created")


def _pod_status(pod: dict[str, Any]) -> JobStatus:
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if status.get("reason") == "Evicted":
        return JobStatus(
            "Failed",
            "Evicted",
            f"the pod was evicted from its node ({status.get('message') or 'no reason given'}); "
            "the run resumes from its last checkpoint",
        )
    for container in status.get("containerStatuses") or []:
        found = _container_status(container, _image(pod))
        if found is not None:
            return JobStatus("Failed" if phase == "Failed" else phase, *found)
    scheduled = _condition(pod, "PodScheduled", within=status)
    if scheduled is not None and scheduled.get("status") == "False":
        reason = scheduled.get("reason") or "Unschedulable"
        return JobStatus(
            "Pending",
            reason,
            f"no node can take the pod yet ({scheduled.get('message') or reason}); it waits "
            "until one can: a node with enough free GPUs, CPU and memory, whose taints the "
            "cluster's tolerations allow and whose labels match its node selector",
        )
    return JobStatus(phase)


def _container_status(container: dict[str, Any], image: str) -> tuple[str, str] | None:
    state = container.get("state") or {}
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason") or ""
    message = waiting.get("message") or reason
    if reason in _PULL:
        return reason, (
            f"the image {image} cannot be pulled ({message}); check its name and tag, that it "
            "was pushed to the registry, and the cluster's --image-pull-secret"
        )
    if reason == "CreateContainerConfigError":
        return reason, f"the worker's container cannot be set up: {message}"
    if reason == "CrashLoopBackOff":
        return reason, f"the worker keeps failing to start: {message}"
    ended = state.get("terminated") or (container.get("lastState") or {}).get("terminated")
    if not ended or ended.get("exitCode") == 0:
        return None
    if ended.get("reason") == "OOMKilled":
        return "OOMKilled", (
            "the worker used more memory than the pod's limit and was killed; give the "
            "cluster more --memory, or train with a smaller --batch or fewer --workers; "
            "the run resumes from its last checkpoint"
        )
    return ended.get("reason") or "Error", (
        f"the worker ended with exit status {ended.get('exitCode')}"
        + (f": {ended['message']}" if ended.get("message") else "")
    )


def _condition(
    obj: dict[str, Any], kind: str, *, within: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The condition of type ``kind`` that holds (of a pod, any with that type)."""
    for condition in (within or obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and (
            within is not None or condition.get("status") == "True"
        ):
            return dict(condition)
    return None


def _created(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or "")


def _image(pod: dict[str, Any]) -> str:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image") or "of the worker")
