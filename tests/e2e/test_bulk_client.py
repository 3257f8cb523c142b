"""Small objects' bodies through obstore: the same objects and the same errors as minio's.

A bucket sends single PUTs and reads of small objects through obstore
(:mod:`datayard.core.store.bulk`) and everything else through minio, so what
one client writes the other must read as written, and a refusal must read
the same whichever client met it.
"""

from __future__ import annotations

import hashlib
import socket
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest

from datayard.core.errors import (
    BucketMissingError,
    EndpointUnreachableError,
    InvalidAccessKeyError,
    InvalidSecretError,
    StorageError,
    TLSError,
)
from datayard.core.store.bucket import Bucket
from datayard.core.store.retry import is_transient
from datayard.core.store.s3 import is_missing
from tests.fixtures.datasets import fresh_bucket
from tests.fixtures.private_ca import PrivateCA
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import StoreProxy


def test_what_obstore_writes_minio_reads_with_its_type_metadata_and_checksum(
    s3_server: S3Server,
) -> None:
    bucket = fresh_bucket(s3_server)
    assert bucket.bulk is not None
    data = b"\x89PNG" + bytes(range(256)) * 80
    sha = hashlib.sha256(data).hexdigest()
    etag = bucket.put_bytes(
        f"blobs/sha256/{sha[:2]}/{sha}", data, content_type="image/png", metadata={"sha256": sha}
    )
    assert etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
    response = bucket.client.get_object(
        bucket_name=bucket.name, object_name=f"blobs/sha256/{sha[:2]}/{sha}"
    )
    try:
        assert response.read() == data
        assert response.headers["content-type"] == "image/png"
        assert response.headers["x-amz-meta-sha256"] == sha
    finally:
        response.close()
        response.release_conn()
    assert bucket.get_with_etag(f"blobs/sha256/{sha[:2]}/{sha}") == (data, etag)
    chunks = list(bucket.stream(f"blobs/sha256/{sha[:2]}/{sha}", size=len(data)))
    assert chunks == [data]  # a small object comes in one request


def test_a_missing_object_reads_as_missing(s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    assert bucket.get_with_etag("nothing/here") is None
    with pytest.raises(StorageError) as raised:
        list(bucket.stream("nothing/here", size=10))
    assert is_missing(raised.value)


def test_an_unreachable_store_reads_as_such_while_urllib3_is_half_imported(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another thread importing minio, and urllib3 with it, leaves its modules in
    # sys.modules before their classes exist: reading an error then must not fail.
    monkeypatch.setitem(sys.modules, "urllib3.exceptions", types.ModuleType("urllib3.exceptions"))
    with socket.socket() as unused:  # a port that nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    profile = replace(fresh_bucket(s3_server).profile, endpoint=f"http://127.0.0.1:{port}")
    silent = Bucket(profile, s3_server.secret).tried_once()
    with pytest.raises(EndpointUnreachableError, match="nothing answers"):
        silent.get_bytes("x")


def test_refusals_and_silence_read_as_minio_s_do(s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    profile, secret = bucket.profile, s3_server.secret
    for changed, key, error in (
        (replace(profile, access_key="AKIANOBODY"), secret, InvalidAccessKeyError),
        (profile, "not-the-secret", InvalidSecretError),
    ):
        other = Bucket(changed, key).tried_once()
        assert other.bulk is not None
        with pytest.raises(error) as raised:
            other.put_bytes("x", b"1")
        assert not is_transient(raised.value)
        with pytest.raises(error):
            other.get_bytes("x")
    # SeaweedFS makes a bucket that a PUT names; a read names the missing one.
    elsewhere = Bucket(replace(profile, bucket="no-such-bucket-here"), secret).tried_once()
    with pytest.raises(BucketMissingError) as missing:
        elsewhere.get_bytes("x")
    assert not is_transient(missing.value)

    with socket.socket() as unused:  # a port that nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    silent = Bucket(replace(profile, endpoint=f"http://127.0.0.1:{port}"), secret).tried_once()
    with pytest.raises(EndpointUnreachableError, match="nothing answers") as raised:
        silent.put_bytes("x", b"1")
    assert is_transient(raised.value)


def test_an_untrusted_certificate_reads_as_a_tls_failure_with_either_client(
    s3_server: S3Server, private_ca: PrivateCA, tmp_path: Path
) -> None:
    """Not as "nothing answers": the user must learn to name a CA bundle, not to check
    that the server runs; and not tried again, since it would fail the same way."""
    front = StoreProxy(s3_server.endpoint, tls=private_ca.server_context("127.0.0.1", tmp_path))
    try:
        profile = replace(fresh_bucket(s3_server).profile, endpoint=front.endpoint)
        bucket = Bucket(profile, s3_server.secret).tried_once()
        assert bucket.bulk is not None
        for through_obstore in (lambda: bucket.get_bytes("x"), lambda: bucket.put_bytes("x", b"1")):
            with pytest.raises(
                TLSError, match=r"the TLS connection failed \(certificate: "
            ) as raised:
                through_obstore()
            assert "CA bundle" in str(raised.value)
            assert not is_transient(raised.value)
        with pytest.raises(TLSError, match="CERTIFICATE_VERIFY_FAILED"):
            bucket.stat("x")  # through minio
    finally:
        front.close()


def test_a_private_ca_or_another_tls_name_stays_with_minio(s3_server: S3Server) -> None:
    profile = s3_server.profile()
    assert Bucket(profile, s3_server.secret).bulk is not None
    tunnel = replace(profile, tls_hostname="store.example.com")
    assert Bucket(tunnel, s3_server.secret).bulk is None


def test_a_key_obstore_refuses_goes_through_minio(s3_server: S3Server) -> None:
    """Datayard never writes an empty segment, but a key read from a record may hold one."""
    bucket = fresh_bucket(s3_server)
    bucket.put_bytes("runs//odd/file", b"kept")
    assert bucket.get_bytes("runs//odd/file") == b"kept"
