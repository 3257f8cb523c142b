"""What Kubernetes accepts as names, labels and quantities, checked before a request is
made: a value the API server would refuse at launch is refused when the cluster is added,
in one line that says what the rule is."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from datayard.core.errors import UsageError

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(_LABEL)
_DNS_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_NAME_PART = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_QUANTITY = re.compile(r"(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?")
_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate("kMGTPE")},
    **{f"{s}i": Decimal(1024) ** (i + 1) for i, s in enumerate("KMGTPE")},
}
_IMAGE_PATH = re.compile(r"[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*")
_REGISTRY = re.compile(r"[A-Za-z0-9.-]+(:\d+)?|\[[0-9a-fA-F:]+\](:\d+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def dns_label(value: str, what: str) -> str:
    """A namespace: at most 63 lowercase letters, digits and '-'."""
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} is not a Kubernetes name: at most 63 lowercase letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


def dns_subdomain(value: str, what: str) -> str:
    """The name of a Secret, a claim, a service account or a priority class."""
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} is not a Kubernetes name: lowercase letters, digits, '-' "
            "and '.', each part starting and ending with a letter or digit"
        )
    return value


def qualified_name(value: str, what: str) -> str:
    """A label key or a resource name: ``[prefix/]name``, the prefix a DNS subdomain."""
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise UsageError(f"{what} {value!r}: the part before '/' must be a DNS name (example.com)")
    if len(name) > 63 or not _NAME_PART.fullmatch(name):
        raise UsageError(
            f"{what} {value!r}: the name must be at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


def label_value(value: str, what: str) -> str:
    if value and (len(value) > 63 or not _NAME_PART.fullmatch(value)):
        raise UsageError(
            f"{what} {value!r} is not a label value: at most 63 letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit"
        )
    return value


def quantity(value: str, what: str) -> Decimal:
    """The amount a Kubernetes quantity (``500m``, ``4``, ``16Gi``) stands for; only
    positive amounts, since every quantity here is a size or a share of a machine."""
    match = _QUANTITY.fullmatch(value)
    try:
        amount = Decimal(match.group(1)) * _SUFFIXES[match.group(3) or ""] if match else None
    except InvalidOperation:
        amount = None
    if amount is None or amount <= 0:
        raise UsageError(
            f"{what} {value!r} is not a Kubernetes quantity: a positive number with an "
            "optional unit, such as 500m or 4 (CPUs) and 512Mi or 16Gi (bytes)"
        )
    return amount


def image(value: str) -> str:
    """A container image reference: ``[registry[:port]/]path[:tag][@sha256:digest]``."""
    rest, at, digest = value.partition("@")
    head, _, last = rest.rpartition("/")
    name, colon, tag = last.partition(":")
    path = f"{head}/{name}" if head else name
    first, slash, remainder = path.partition("/")
    if (
        slash
        and _REGISTRY.fullmatch(first)
        and ("." in first or ":" in first or first == "localhost")
    ):
        path = remainder
    valid = (
        bool(_IMAGE_PATH.fullmatch(path))
        and (not colon or bool(_TAG.fullmatch(tag)))
        and (not at or bool(_DIGEST.fullmatch(digest)))
    )
    if not valid:
        raise UsageError(
            f"image {value!r} is not an image reference: write it as "
            "registry.example.com/team/datayard-worker:0.1.0 (lowercase path, optional "
            "tag and @sha256: digest)"
        )
    return value
