"""Typed object operations on one profile's bucket, over the minio SDK (and obstore for
the bodies of small objects, see :mod:`.bulk`).

Push, pull, verify and gc speak to the store only through :class:`Bucket`, so
every call uses keyword arguments, every library error becomes a project
error (see :func:`datayard.core.store.s3.translated`), and every request is
tried again after an error that may pass, as :mod:`datayard.core.store.retry`
says.

minio-py 7.2 has no public API for two things Datayard needs, so this module
calls private methods of ``Minio``, here and nowhere else, always with
keywords, pinned by ``minio>=7.2.20,<8``:

- continuing a multipart upload after a restart: ``_create_multipart_upload``,
  ``_upload_part``, ``_complete_multipart_upload``, ``_abort_multipart_upload``
  and ``_list_parts``;
- conditional requests: ``_execute`` with ``If-Match`` / ``If-None-Match``
  headers, which make publishing a version and deleting a damaged blob atomic
  on stores that honour them (MinIO, SeaweedFS and AWS do).

``tests/core/test_minio_internals.py`` reads these calls from this module and
checks each against the signatures of the installed minio.
"""

from __future__ import annotations

import copy
import io
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from datayard.core.errors import PreconditionFailedError, StorageError
from datayard.core.events import CancelToken
from datayard.core.settings import Profile
from datayard.core.store.bulk import WHOLE_LIMIT, BulkClient, serves, takes
from datayard.core.store.retry import ATTEMPTS, Attempts, retrying
from datayard.core.store.s3 import is_missing, make_client, s3_code, translated

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # minio itself is imported on first use (see .s3)
    from minio import Minio
    from minio.helpers import DictType

T = TypeVar("T")

CONDITIONS_PROBE = ".datayard/conditional-write-probe/"
DELETE_BATCH = 1000
"""Keys per delete request: the most S3 takes in one."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str
    modified: datetime | None = None
    """When the server last wrote the object, by the server's clock."""


@dataclass
class _Conditions:
    """Whether the store honours conditional writes: asked once, known to every view."""

    honoured: bool | None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _OnFirstUse:
    """A client made once, by the first thread that needs it; shared by every view of
    the bucket (:meth:`Bucket.heeding` copies hold the same one)."""

    def __init__(self, make: Callable[[], Minio]) -> None:
        self._make = make
        self._made: Minio | None = None
        self._lock = threading.Lock()

    def get(self) -> Minio:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return self._made


def _unquote(etag: str | None) -> str:
    return (etag or "").strip('"')


class Bucket:
    """The profile's bucket; safe to share between threads (urllib3 pools are)."""

    def __init__(
        self,
        profile: Profile,
        secret: str,
        *,
        connections: int = 10,
        conditional_writes: bool | None = None,
    ) -> None:
        """``conditional_writes`` says whether the store honours them; ``None``: ask it."""
        self.profile = profile
        self.name = profile.bucket
        self.bulk = (
            BulkClient(profile, secret, connections=connections) if serves(profile) else None
        )
        """The bodies of small objects go through obstore where it can (see :mod:`.bulk`)."""
        self._minio = _OnFirstUse(lambda: make_client(profile, secret, connections=connections))
        if self.bulk is None:
            self._minio.get()  # a private CA bundle is read and checked now, not at a request
        self.cancel: CancelToken | None = None
        """Ends the waits between tries of a request at once (see :meth:`heeding`)."""
        self.attempts = ATTEMPTS
        """Tries of each request (see :meth:`tried_once`)."""
        self._conditions = _Conditions(conditional_writes)

    @property
    def client(self) -> Minio:
        """The minio client, made on first use: a push that finds nothing new reads small
        objects only, through obstore, and spares minio's import (0.15 s of its 0.7 s)."""
        return self._minio.get()

    def heeding(self, cancel: CancelToken | None) -> Bucket:
        """This bucket for one operation: a wait before another try ends when ``cancel``
        is set, with :class:`~datayard.core.events.Cancelled`.

        The view shares the client and its connections with this bucket.
        """
        if cancel is None or cancel is self.cancel:
            return self
        view = copy.copy(self)
        view.cancel = cancel
        return view

    def tried_once(self) -> Bucket:
        """This bucket for a caller that tries again at its own pace (a run's mirror, which
        waits out a store that is away for hours): each request is made once, and its error
        raised at once. The view shares the client and its connections with this bucket."""
        view = copy.copy(self)
        view.attempts = 1
        return view

    def _request(self, what: str, action: Callable[[], T]) -> T:
        """``action``, its errors translated, tried again while they may pass."""

        def attempt() -> T:
            with translated(self.profile):
                return action()

        return retrying(attempt, what, cancel=self.cancel, attempts=self.attempts)

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Store ``data`` in one request; return the server's ETag (quotes removed)."""
        bulk = self.bulk
        if bulk is not None and takes(key):
            return self._request(
                key,
                lambda: bulk.put(key, data, content_type=content_type, metadata=metadata or {}),
            )
        result = self._request(
            key,
            lambda: self.client.put_object(
                bucket_name=self.name,
                object_name=key,
                data=io.BytesIO(data),
                length=len(data),
                content_type=content_type,
                metadata=metadata,  # type: ignore[arg-type]
            ),
        )
        return _unquote(result.etag)

    def put_if(
        self,
        key: str,
        data: bytes,
        *,
        etag: str | None,
        content_type: str = "application/octet-stream",
    ) -> str:
        """Store ``data`` only if the object's ETag is still ``etag``, or if it is absent
        when ``etag`` is ``None``; :class:`PreconditionFailedError` otherwise.

        Only stores for which :meth:`honours_conditions` is true check the
        condition; others write unconditionally.
        """
        condition = {"If-None-Match": "*"} if etag is None else {"If-Match": f'"{etag}"'}
        headers: DictType = {"Content-Type": content_type, **condition}
        response = self._request(
            key,
            lambda: self.client._execute(  # private: see the module doc
                method="PUT",
                bucket_name=self.name,
                object_name=key,
                body=data,
                headers=dict(headers),  # minio adds to it: each try gets its own
            ),
        )
        return _unquote(response.headers.get("etag"))

    def remove_if(self, key: str, etag: str) -> None:
        """Delete the object only while its ETag is ``etag``: what was read is what goes.

        :class:`PreconditionFailedError` when it changed meanwhile; nothing when
        it is already gone.
        """
        try:
            self._request(
                key,
                lambda: self.client._execute(  # private: see the module doc
                    method="DELETE",
                    bucket_name=self.name,
                    object_name=key,
                    headers={"If-Match": f'"{etag}"'},
                ),
            )
        except StorageError as error:
            if not is_missing(error):
                raise

    def honours_conditions(self) -> bool:
        """Whether the store refuses a conditional write whose condition fails.

        Asked once per bucket with a probe object: a store that ignored
        ``If-None-Match`` would accept the second write below.
        """
        with self._conditions.lock:
            if self._conditions.honoured is None:
                self._conditions.honoured = self._probe_conditions()
            return self._conditions.honoured

    def _probe_conditions(self) -> bool:
        key = f"{CONDITIONS_PROBE}{uuid.uuid4().hex}"
        try:
            self.put_if(key, b"1", etag=None)
            try:
                self.put_if(key, b"2", etag=None)
            except PreconditionFailedError:
                return True
            except StorageError as error:
                log.info("the store refuses conditional writes (%s)", error)
            return False
        finally:
            self.remove([key])

    def get_with_etag(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and the ETag they were read at, or ``None`` if it is absent."""
        try:
            return self._request(key, lambda: self._read(key))
        except StorageError as error:
            if is_missing(error):
                return None
            raise

    def get_bytes(self, key: str) -> bytes:
        return self._request(key, lambda: self._read(key))[0]

    def _read(self, key: str) -> tuple[bytes, str]:
        if self.bulk is not None and takes(key):
            return self.bulk.read(key)
        response = self.client.get_object(bucket_name=self.name, object_name=key)
        try:
            return response.read(), _unquote(response.headers.get("etag"))
        finally:
            response.close()
            response.release_conn()

    def copy(self, source: str, key: str) -> None:
        """Copy an object within the bucket, on the server (nothing passes through here)."""
        from minio.commonconfig import CopySource

        self._request(
            key,
            lambda: self.client.copy_object(
                bucket_name=self.name,
                object_name=key,
                source=CopySource(bucket_name=self.name, object_name=source),
            ),
        )

    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file of any size (multipart above the SDK's threshold)."""
        self._request(
            key,
            lambda: self.client.fput_object(
                bucket_name=self.name, object_name=key, file_path=str(path)
            ),
        )

    def get_file(self, key: str, path: Path) -> None:
        """Download an object to ``path``; the SDK writes a temporary file and renames it."""
        self._request(
            key,
            lambda: self.client.fget_object(
                bucket_name=self.name, object_name=key, file_path=str(path)
            ),
        )

    def stream(
        self,
        key: str,
        chunk: int = 1 << 20,
        *,
        opened: Callable[[str], object] | None = None,
        size: int | None = None,
    ) -> Iterator[bytes]:
        """The object's bytes in chunks, for downloads larger than memory; an object of a
        known ``size`` that memory holds well comes in one request, as one chunk.

        ``opened`` hears the ETag of the object being read, before its first
        byte. Tried once: once bytes have been handed over, only the caller
        can start again (see :func:`datayard.core.datasets.blobs.with_retries`).
        """
        if self.bulk is not None and size is not None and size <= WHOLE_LIMIT and takes(key):
            data, etag = self.bulk.read(key)
            if opened is not None:
                opened(etag)
            yield data
            return
        with translated(self.profile):
            response = self.client.get_object(bucket_name=self.name, object_name=key)
            try:
                if opened is not None:
                    opened(_unquote(response.headers.get("etag")))
                yield from response.stream(chunk)
            finally:
                response.close()
                response.release_conn()

    def stat(self, key: str) -> StoredObject | None:
        """The object's size and ETag, or ``None`` when it does not exist."""
        try:
            info = self._request(
                key, lambda: self.client.stat_object(bucket_name=self.name, object_name=key)
            )
        except StorageError as error:
            if is_missing(error):
                return None
            raise
        return StoredObject(key, int(info.size or 0), _unquote(info.etag), info.last_modified)

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def objects(self, prefix: str, *, after: str | None = None) -> Iterator[StoredObject]:
        """Every object under ``prefix``, in key order; only those after the key ``after``
        when given, for a reader that lists again what was added since.

        A listing that fails after some pages goes on after the last key it
        gave, with one budget of tries for the whole listing.
        """
        attempts = Attempts(f"listing {prefix}", self.cancel, attempts=self.attempts)
        while True:
            try:
                with translated(self.profile):
                    for item in self.client.list_objects(
                        bucket_name=self.name, prefix=prefix, recursive=True, start_after=after
                    ):
                        if item.object_name and not item.is_dir:
                            after = item.object_name
                            yield StoredObject(
                                item.object_name,
                                int(item.size or 0),
                                _unquote(item.etag),
                                item.last_modified,
                            )
                return
            except StorageError as error:
                attempts.failed(error)

    def folders(self, prefix: str) -> Iterator[str]:
        """The names directly under ``prefix`` that have keys below them (``a/`` for
        ``prefix/a/b``), in order: one listing of names, not of every key below."""
        items = self._request(
            f"listing {prefix}",
            lambda: list(
                self.client.list_objects(bucket_name=self.name, prefix=prefix, recursive=False)
            ),
        )
        for item in items:
            name = (item.object_name or "").removeprefix(prefix)
            if item.is_dir and name:
                yield name

    def remove(self, keys: Iterable[str]) -> list[str]:
        """Delete objects in batches; return the keys the server failed to delete."""
        failed: list[str] = []
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                failed += self._remove_batch(batch)
                batch = []
        return failed + (self._remove_batch(batch) if batch else [])

    def _remove_batch(self, keys: list[str]) -> list[str]:
        from minio.deleteobjects import DeleteObject

        def remove() -> list[str]:
            errors = self.client.remove_objects(
                bucket_name=self.name, delete_object_list=[DeleteObject(key) for key in keys]
            )
            return [error.name or "" for error in errors]

        return self._request(f"deleting {len(keys)} objects from {keys[0]}", remove)

    # -- multipart: resumable uploads of large files ----------------------------

    def start_upload(self, key: str, *, metadata: dict[str, str] | None = None) -> str:
        headers: DictType = {"Content-Type": "application/octet-stream"}
        headers.update({f"x-amz-meta-{name}": value for name, value in (metadata or {}).items()})
        return self._request(
            key,
            lambda: self.client._create_multipart_upload(  # private: see the module doc
                bucket_name=self.name,
                object_name=key,
                headers=dict(headers),  # as in put_if
            ),
        )

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        etag = self._request(
            f"{key} part {number}",
            lambda: self.client._upload_part(  # private: see the module doc
                bucket_name=self.name,
                object_name=key,
                data=data,
                headers=None,
                upload_id=upload_id,
                part_number=number,
            ),
        )
        return _unquote(etag)

    def finish_upload(self, key: str, upload_id: str, etags: dict[int, str]) -> str:
        from minio.datatypes import Part

        parts = [Part(part_number=number, etag=etag) for number, etag in sorted(etags.items())]
        result = self._request(
            key,
            lambda: self.client._complete_multipart_upload(  # private: see the module doc
                bucket_name=self.name, object_name=key, upload_id=upload_id, parts=parts
            ),
        )
        return _unquote(result.etag)

    def abort_upload(self, key: str, upload_id: str) -> None:
        self._request(
            key,
            lambda: self.client._abort_multipart_upload(  # private: see the module doc
                bucket_name=self.name, object_name=key, upload_id=upload_id
            ),
        )

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, set[str]] | None:
        """The ETags the server holds for each part of an upload; ``None`` if the upload is gone.

        A set per part: SeaweedFS keeps every upload of a part number, lists them
        all, and completes with the one whose ETag the completion names.
        """
        try:
            result = self._request(
                key,
                lambda: self.client._list_parts(  # private: see the module doc
                    bucket_name=self.name, object_name=key, upload_id=upload_id
                ),
            )
        except StorageError as error:
            if s3_code(error.__cause__) == "NoSuchUpload":
                return None
            raise
        held: dict[int, set[str]] = {}
        for part in result.parts:
            held.setdefault(part.part_number, set()).add(_unquote(part.etag))
        return held
