"""The one adapter to obstore: the bodies of small objects, sent and read in one request.

A push of many small files, or their pull, is a request per file, and there
the client's CPU per request decides the race with s5cmd and rclone. obstore
(the Python binding of the Rust ``object_store`` crate) signs and sends in
Rust and releases the GIL: uploading 5000 x 20 KB with 32 threads took
3.6-3.8 s and 1.7-2.0 s of CPU where minio-py took 5.1-5.9 s and 4.6-5.1 s
(same server and files, one run). So :class:`~.bucket.Bucket` sends every
single PUT through here, and reads whole objects up to :data:`WHOLE_LIMIT`.

minio stays for the rest, where obstore has no call or no setting Datayard
needs: conditional requests, multipart uploads continued after a restart,
listings, copies and deletes, bucket administration, and reading objects too
large to hold in memory. A profile with a private CA bundle or a TLS host name
of its own (an SSH tunnel's loopback port) goes through minio only: obstore
adds a private CA to the system's roots where minio trusts it alone, and
cannot ask for another host name.

obstore tries nothing again here (``max_retries`` 0): :mod:`.retry` decides,
for every client alike. Its errors become the same project errors as
minio's, through :class:`~.s3.S3Answer`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from datayard.core.errors import DatayardError
from datayard.core.settings import Profile
from datayard.core.store.s3 import S3Answer, translate

if TYPE_CHECKING:
    from obstore.store import S3Store

WHOLE_LIMIT = 16 << 20
"""Objects up to this size are read in one request, held in memory."""
CONNECT_TIMEOUT = timedelta(seconds=5)
REQUEST_TIMEOUT = timedelta(seconds=120)
"""A whole request, body included: at 16 MiB, a link slower than 140 kB/s fails it."""

_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>")
_KEY = re.compile(r"<Key>([^<]*)</Key>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_TLS = re.compile(r"\b(InvalidCertificate|AlertReceived)\(([\w\s(]*)")
"""rustls's refusals, as the error's debug text nests them: ``InvalidCertificate(
UnknownIssuer`` or ``InvalidCertificate(Other(OtherError(CaUsedAsEndEntity``."""
_TLS_KINDS = {"InvalidCertificate": "certificate", "AlertReceived": "alert from the server"}


def serves(profile: Profile) -> bool:
    """Whether obstore reaches the store as the profile says (see the module doc)."""
    return not profile.ca_bundle and not profile.tls_hostname


def takes(key: str) -> bool:
    """Whether obstore takes ``key`` as it is: it refuses empty, ``.`` and ``..`` segments.
    Datayard never writes them, but a key made from a record of elsewhere may have an
    empty one, which minio sends as it is."""
    return all(part not in ("", ".", "..") for part in key.split("/"))


class BulkClient:
    """One profile's bucket through obstore; safe to share between threads."""

    def __init__(self, profile: Profile, secret: str, *, connections: int) -> None:
        from obstore.store import S3Store

        self.profile = profile
        no_wait = timedelta(0)
        self.store: S3Store = S3Store(
            profile.bucket,
            endpoint=profile.endpoint,
            access_key_id=profile.access_key,
            secret_access_key=secret,
            region=profile.region or "us-east-1",
            virtual_hosted_style_request=False,
            client_options={
                "allow_http": not profile.secure,
                "allow_invalid_certificates": not profile.verify_tls,
                "connect_timeout": CONNECT_TIMEOUT,
                "timeout": REQUEST_TIMEOUT,
                "pool_max_idle_per_host": str(max(connections, 1)),
            },
            retry_config={
                "max_retries": 0,
                "backoff": {"init_backoff": no_wait, "max_backoff": no_wait, "base": 2},
                "retry_timeout": no_wait,
            },
        )

    def put(self, key: str, data: bytes, *, content_type: str, metadata: dict[str, str]) -> str:
        """Store ``data`` in one request; the server's ETag, quotes removed."""
        import obstore

        attributes: dict[str, str] = {"Content-Type": content_type, **metadata}
        with self._translated():
            done = obstore.put(self.store, key, data, attributes=attributes, use_multipart=False)
        return (done["e_tag"] or "").strip('"')

    def read(self, key: str) -> tuple[bytes, str]:
        """The whole object and the ETag it was read at."""
        import obstore

        with self._translated():
            found = obstore.get(self.store, key)
            return found.bytes().to_bytes(), (found.meta["e_tag"] or "").strip('"')

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except DatayardError:
            raise
        except Exception as error:
            if not _is_library_error(error):
                raise
            answer = answer_of(error)
            raise translate(answer, self.profile) from answer


def _is_library_error(error: Exception) -> bool:
    from obstore.exceptions import BaseError

    # obstore raises Python's own FileNotFoundError and PermissionError for some answers.
    return isinstance(error, BaseError | FileNotFoundError | PermissionError | TimeoutError)


def answer_of(error: Exception) -> S3Answer:
    """What obstore's error says of the server's answer. Its exceptions carry only a
    message, which quotes the status line and the S3 error document; one without a
    status line got no answer (refused, cut, timed out)."""
    text = str(error)
    status, code = _STATUS.search(text), _CODE.search(text)
    message, key, tls = _MESSAGE.search(text), _KEY.search(text), _tls_refusal(text)
    return S3Answer(
        message.group(1) if message else text.split("\n", 1)[0],
        status=int(status.group(1)) if status else None,
        code=code.group(1) if code else "",
        object_name=key.group(1) if key else "",
        unanswered=status is None and not tls,  # a refused certificate stays refused
        tls=tls,
    )


def _tls_refusal(text: str) -> str:
    """Why rustls refused the connection ("certificate: UnknownIssuer"), or ``""``."""
    found = _TLS.search(text)
    if found is None:
        return ""
    reasons = re.findall(r"\w+", found.group(2))
    return f"{_TLS_KINDS[found.group(1)]}: {reasons[-1] if reasons else 'refused'}"
