"""The one adapter to the minio SDK.

Everything else in Datayard talks to object stores through this module, so
that a library change (minio-py's signatures moved between 7.2.19, 7.2.20 and
8.x) is fixed in one place, calls always use keyword arguments, and every
library error becomes one of the project's errors with a message a data
scientist can act on.

minio is imported when first used, not with this module: it takes 0.16 s,
and the desktop app imports this module before its first paint, which needs
no store. So is urllib3, which only minio sends through: errors are matched
against their classes only once they are loaded (:func:`urllib3_error`).
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import certifi

from datayard.core.errors import (
    BucketMissingError,
    DatayardError,
    EndpointUnreachableError,
    InvalidAccessKeyError,
    InvalidSecretError,
    PermissionDeniedError,
    PreconditionFailedError,
    StorageError,
    TLSError,
)
from datayard.core.settings import Profile
from datayard.core.store import ca_bundle

if TYPE_CHECKING:
    from minio import Minio

log = logging.getLogger(__name__)

PROBE_OBJECT = ".datayard/access-check"


def make_client(profile: Profile, secret: str, *, connections: int = 10) -> Minio:
    """A client whose connection pool matches the number of parallel transfers.

    minio-py's default pool holds 10 connections; more threads than that would
    queue for a connection, so callers pass their concurrency here. The client
    tries each request once: :mod:`datayard.core.store.retry` decides what is
    tried again. A profile's private CA bundle is read and checked here, so that a
    file that cannot serve is named at once, not met as a failed TLS handshake.
    """
    if profile.verify_tls:
        tls: dict[str, str] = {"cert_reqs": "CERT_REQUIRED"}
        if profile.ca_bundle:
            tls["ca_cert_data"] = ca_bundle.read(profile)
        else:
            tls["ca_certs"] = certifi.where()
        if profile.tls_hostname:
            tls["server_hostname"] = profile.tls_hostname
    else:
        tls = {"cert_reqs": "CERT_NONE"}
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(
        maxsize=max(connections, 1),
        timeout=urllib3.Timeout(connect=5, read=120),
        retries=False,
        **tls,  # type: ignore[arg-type]
    )
    return Minio(
        endpoint=profile.host,
        access_key=profile.access_key,
        secret_key=secret,
        secure=profile.secure,
        region=profile.region or None,
        http_client=http,
        cert_check=profile.verify_tls,
    )


class S3Answer(Exception):  # noqa: N818 - a server's answer, carried as a cause
    """A failed request as the bulk client (:mod:`.bulk`) reports it, in the terms the
    minio client's errors give: the HTTP status and S3 error code of the server's answer,
    or ``unanswered`` when no answer came (refused, unreachable, cut, timed out)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        object_name: str = "",
        unanswered: bool = False,
        tls: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.object_name = object_name
        self.unanswered = unanswered
        self.tls = tls
        """Why the TLS handshake failed, when it did ("certificate: UnknownIssuer")."""


def translate(error: Exception, profile: Profile) -> DatayardError:
    """Name what went wrong in the user's terms (never echoing the secret)."""
    where = f"profile {profile.name!r} ({profile.endpoint})"
    answer = _answer(error)
    answered = answer is not None and answer.status is not None
    if answer is not None and answered and answer.code:
        code = answer.code
        if code == "InvalidAccessKeyId":
            return InvalidAccessKeyError(
                f"{where}: the server does not know the access key {profile.access_key!r}; "
                "check the access key"
            )
        if code == "SignatureDoesNotMatch":
            return InvalidSecretError(
                f"{where}: the secret key is wrong for access key {profile.access_key!r}; "
                "enter it again with 'datayard profile add'"
            )
        if code == "NoSuchBucket":
            return BucketMissingError(
                f"{where}: the bucket {profile.bucket!r} does not exist; "
                "create it with 'datayard profile test --create-bucket'"
            )
        if code == "PreconditionFailed":
            return PreconditionFailedError(f"{where}: {answer.object_name} changed meanwhile")
        if code in ("AccessDenied", "AllAccessDisabled"):
            return PermissionDeniedError(
                f"{where}: access denied to bucket {profile.bucket!r}; "
                "ask the store's administrator for read and write access"
            )
        return StorageError(f"{where}: the server refused the request ({code}: {answer.message})")
    if urllib3_error(error, "SSLError") or (answer is not None and answer.tls):
        why = answer.tls if answer is not None else error
        return TLSError(
            f"{where}: the TLS connection failed ({why}); check the endpoint's certificate, "
            "set a CA bundle for a private certificate authority, or use http:// if the "
            "server has no TLS"
        )
    if urllib3_error(error, "NameResolutionError"):
        return EndpointUnreachableError(
            f"{where}: the host name {profile.host.split(':')[0]!r} cannot be resolved"
        )
    if urllib3_error(error, "NewConnectionError", "ConnectTimeoutError", "ProtocolError") or (
        answer is not None and answer.unanswered
    ):
        return EndpointUnreachableError(
            f"{where}: nothing answers at {profile.host}; check the address and port, "
            "and that the server is running"
        )
    if _minio_loaded():
        from minio.error import InvalidResponseError, ServerError

        if isinstance(error, InvalidResponseError):
            return StorageError(f"{where}: the endpoint answered, but not as an S3 server does")
        if isinstance(error, ServerError):
            return StorageError(f"{where}: the server failed (HTTP {error.status_code})")
    if answer is not None and answered:
        return StorageError(f"{where}: the server failed (HTTP {answer.status})")
    return StorageError(f"{where}: {error}")


@contextmanager
def translated(profile: Profile) -> Iterator[None]:
    """Turn the library's errors raised in the block into the project's errors."""
    try:
        yield
    except DatayardError:
        raise
    except Exception as error:
        if not isinstance(error, _library_errors()):
            raise
        raise translate(error, profile) from error


def _library_errors() -> tuple[type[Exception], ...]:
    if not _minio_loaded():
        return (OSError,)  # nor is urllib3, which minio imports
    from minio.error import MinioException
    from urllib3.exceptions import HTTPError

    return (MinioException, HTTPError, OSError)


def _minio_loaded() -> bool:
    """Whether minio is imported. Until it is, no error can be one of its classes, and a
    push that finds nothing new, whose reads all go through obstore, spares its import
    (0.15 s of 0.7 s): so its classes are not imported only to match an error."""
    return "minio.error" in sys.modules


def urllib3_error(error: BaseException | None, *names: str) -> bool:
    """Whether ``error`` is one of the classes of ``urllib3.exceptions`` so named.

    Asked without importing urllib3 (0.07 s), which only minio loads: until it is
    loaded, no error can be one of its classes.
    """
    module = sys.modules.get("urllib3.exceptions")
    if module is None:
        return False
    # Another thread may be importing it still: a class it does not have yet is one that
    # no error can be an instance of (reading a missing one crashed that thread's caller).
    found = (getattr(module, name, None) for name in names)
    return isinstance(error, tuple(cls for cls in found if isinstance(cls, type)))


def _answer(error: BaseException | None) -> S3Answer | None:
    """A server's error answer, or a request that got none, as :class:`S3Answer`, from
    either client; ``None`` for other errors."""
    if isinstance(error, S3Answer):
        return error
    if error is None or not _minio_loaded():
        return None
    from minio.error import S3Error

    if not isinstance(error, S3Error):
        return None
    return S3Answer(
        error.message or "",
        status=error.response.status,
        code=error.code or "",
        object_name=error.object_name or "",
    )


def s3_code(error: BaseException | None) -> str | None:
    """The S3 error code of a server's answer ("NoSuchKey"...), or ``None`` for other errors."""
    answer = _answer(error)
    return answer.code or None if answer is not None else None


def is_missing(error: StorageError) -> bool:
    """Whether the store said the object does not exist."""
    return s3_code(error.__cause__) in ("NoSuchKey", "NoSuchObject")


def http_status(error: BaseException | None) -> int | None:
    """The HTTP status of a server's error answer, or ``None`` for other errors."""
    answer = _answer(error)
    if answer is not None:
        return answer.status
    if not _minio_loaded():
        return None
    from minio.error import ServerError

    return error.status_code if isinstance(error, ServerError) else None


def check_profile(profile: Profile, secret: str) -> None:
    """Reach the endpoint, prove the credentials, then read and write the bucket.

    Listing is a GET whose error body names the exact problem (unknown access
    key, bad signature, missing bucket); a HEAD request could only say 403.
    """
    client = make_client(profile, secret, connections=1)
    with translated(profile):
        next(iter(client.list_objects(bucket_name=profile.bucket, prefix=PROBE_OBJECT)), None)
    try:
        with translated(profile):
            client.put_object(
                bucket_name=profile.bucket,
                object_name=PROBE_OBJECT,
                data=io.BytesIO(b"ok"),
                length=2,
            )
            client.remove_object(bucket_name=profile.bucket, object_name=PROBE_OBJECT)
    except PermissionDeniedError as error:
        raise PermissionDeniedError(
            f"profile {profile.name!r}: the bucket {profile.bucket!r} can be read but not "
            "written; ask the store's administrator for write access"
        ) from error


def create_bucket(profile: Profile, secret: str) -> None:
    client = make_client(profile, secret, connections=1)
    with translated(profile):
        if not client.bucket_exists(bucket_name=profile.bucket):
            client.make_bucket(bucket_name=profile.bucket, location=profile.region or None)
    log.info("created bucket %r on %s", profile.bucket, profile.endpoint)
