"""What the command says, against a real SeaweedFS: names as written, one line per problem."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from datayard.core.datasets.catalog import Catalog
from tests.e2e.test_push import write_images
from tests.fixtures.datasets import add_profile, fresh_bucket, publish, run_cli
from tests.fixtures.privileges import unprivileged_prefix
from tests.fixtures.services import S3Server, datayard_command

pytestmark = pytest.mark.usefixtures("secret_service")


def test_a_path_from_the_store_prints_as_written(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    publish(bucket, "mallory/tags", {"../[red]hidden[/red]x": b"x"})
    add_profile(s3_server, bucket)

    done = run_cli("pull", "mallory/tags", str(tmp_path / "out"), "--profile", "lab")

    assert done.returncode != 0
    assert "'../[red]hidden[/red]x'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_forced_push_fails_on_an_unreadable_file_and_names_the_unreadable_folder(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    add_profile(s3_server, bucket)
    source = write_images(tmp_path / "photos", 3)
    (source / "img_00001.png").chmod(0)
    locked = write_images(source / "locked", 1)
    locked.chmod(0)
    prefix = unprivileged_prefix(locked)

    done = subprocess.run(
        [*prefix, *datayard_command("push", str(source), "-d", "photos", "-p", "lab", "--force")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed ")]
    assert failed == [
        f"failed images/val/img_00001.png: cannot read {source}/img_00001.png: Permission denied"
    ]
    assert "1 file(s) failed; nothing was published" in done.stderr
    assert "folder cannot be read (1)" in done.stdout
    assert "  locked  Permission denied" in done.stdout
    assert Catalog(bucket).names() == {}


@pytest.mark.parametrize("mode", [0o000, 0o555], ids=["unsearchable", "read-only"])
def test_a_pull_under_a_folder_without_permission_says_what_to_do(
    s3_server: S3Server, tmp_path: Path, mode: int
) -> None:
    bucket = fresh_bucket(s3_server)
    publish(bucket, "alice/cats", {"images/train/a.jpg": b"x"})
    add_profile(s3_server, bucket)
    probe = tmp_path / "probe"
    probe.mkdir(mode=0)
    prefix = unprivileged_prefix(probe)
    parent = tmp_path / "shared"
    parent.mkdir(mode=mode)
    destination = parent / "cats"

    done = subprocess.run(
        [*prefix, *datayard_command("pull", "alice/cats", str(destination), "--profile", "lab")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert done.stderr == (
        f"error: cannot write {destination}: Permission denied; "
        "pull into a folder you can write to\n"
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def add_bare_profile(name: str, endpoint: str, *options: str) -> None:
    added = run_cli(
        "profile",
        "add",
        name,
        f"--endpoint={endpoint}",
        "--bucket=datayard",
        "--access-key=key",
        "--secret-stdin",
        *options,
        stdin="secret\n",
    )
    assert added.returncode == 0, added.stderr


def test_an_unreachable_store_is_one_line_without_the_retries() -> None:
    add_bare_profile("dead", f"http://127.0.0.1:{closed_port()}")

    done = run_cli("datasets", "--profile", "dead")
    debug = run_cli("--debug", "datasets", "--profile", "dead")

    assert done.returncode == debug.returncode == 1
    assert done.stderr.startswith("error: profile 'dead'")
    assert done.stderr.count("\n") == 1
    assert "trying again in" in debug.stderr  # what the first run kept quiet


class _Refusing(BaseHTTPRequestHandler):
    """Refuses every listing, and keeps its own log out of the test's output."""

    def do_GET(self) -> None:
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server with a self-signed certificate that refuses every request."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    key, certificate = tmp_path / "key.pem", tmp_path / "certificate.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(certificate)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_unverified_certificate_warns_only_with_debug(tls_endpoint: str) -> None:
    add_bare_profile("selfsigned", tls_endpoint, "--no-verify-tls")

    done = run_cli("datasets", "--profile", "selfsigned")
    debug = run_cli("--debug", "datasets", "--profile", "selfsigned")

    assert done.returncode != 0
    assert done.stderr.startswith("error: profile 'selfsigned'")
    assert done.stderr.count("\n") == 1
    assert "InsecureRequestWarning" in debug.stderr  # what the first run kept quiet
