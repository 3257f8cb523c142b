"""Profiles through the CLI, against the real Secret Service and a real SeaweedFS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from datayard.core.paths import AppDirs
from datayard.core.secrets import SecretStore
from tests.fixtures.services import S3Server, datayard_command

pytestmark = pytest.mark.usefixtures("secret_service")


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        datayard_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def add_profile(
    server: S3Server, name: str = "lab", secret: str | None = None, **options: str
) -> subprocess.CompletedProcess[str]:
    fields = {"endpoint": server.endpoint, "bucket": "datayard", "access-key": server.access_key}
    fields.update(options)
    args = [f"--{key}={value}" for key, value in fields.items()]
    return run(
        "profile", "add", name, *args, "--secret-stdin", stdin=(secret or server.secret) + "\n"
    )


def files_containing(root: Path, needle: str) -> list[Path]:
    return [
        path for path in root.rglob("*") if path.is_file() and needle.encode() in path.read_bytes()
    ]


def test_secret_round_trips_through_the_keyring_and_lands_in_no_file(
    s3_server: S3Server, private_dirs: Path
) -> None:
    added = add_profile(s3_server)
    assert added.returncode == 0, added.stderr
    assert SecretStore().get("lab") == s3_server.secret
    assert SecretStore().describe().endswith("SecretService.Keyring")

    tested = run("profile", "test", "lab")
    assert tested.returncode == 0, tested.stderr
    assert "can read and write bucket" in tested.stderr

    listed = run("profile", "list")
    assert "lab" in listed.stdout and "in keyring" in listed.stdout
    settings_text = AppDirs.default().settings_file.read_text()
    assert s3_server.access_key in settings_text
    assert files_containing(private_dirs, s3_server.secret) == []
    for output in (added, tested, listed):
        assert s3_server.secret not in output.stdout + output.stderr

    removed = run("profile", "remove", "lab")
    assert removed.returncode == 0
    assert "lab" not in run("profile", "list").stdout
    assert (
        subprocess.run(
            ["secret-tool", "lookup", "service", "datayard", "username", "profile:lab"],
            capture_output=True,
        ).stdout
        == b""
    )


def test_profile_test_names_each_problem(s3_server: S3Server) -> None:
    assert add_profile(s3_server, "wrong-secret", secret="not-the-secret").returncode == 0
    result = run("profile", "test", "wrong-secret")
    assert result.returncode == 1
    assert "the secret key is wrong" in result.stderr
    assert "not-the-secret" not in result.stderr

    assert add_profile(s3_server, "wrong-key", **{"access-key": "NOBODY"}).returncode == 0
    result = run("profile", "test", "wrong-key")
    assert "does not know the access key 'NOBODY'" in result.stderr

    closed = "http://127.0.0.1:9"  # discard port: nothing listens there
    assert add_profile(s3_server, "down", endpoint=closed).returncode == 0
    result = run("profile", "test", "down")
    assert result.returncode == 1
    assert "nothing answers at 127.0.0.1:9" in result.stderr

    tls_endpoint = s3_server.endpoint.replace("http://", "https://")
    assert add_profile(s3_server, "tls", endpoint=tls_endpoint).returncode == 0
    result = run("profile", "test", "tls")
    assert "the TLS connection failed" in result.stderr


def test_missing_bucket_is_offered_for_creation(s3_server: S3Server) -> None:
    assert add_profile(s3_server, "fresh", bucket="fresh-bucket").returncode == 0
    result = run("profile", "test", "fresh")
    assert result.returncode == 1
    assert "the bucket 'fresh-bucket' does not exist" in result.stderr
    assert "--create-bucket" in result.stderr

    created = run("profile", "test", "fresh", "--create-bucket")
    assert created.returncode == 0, created.stderr
    assert "Created bucket fresh-bucket" in created.stderr
    assert run("profile", "test", "fresh").returncode == 0


def test_invalid_input_is_a_usage_error_and_saves_nothing(s3_server: S3Server) -> None:
    result = add_profile(s3_server, "bad", endpoint="minio:9000")
    assert result.returncode == 2
    assert "is not a URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert not AppDirs.default().settings_file.exists()

    no_secret = run(
        "profile", "add", "x", "--endpoint=http://a:1", "--bucket=bkt", "--access-key=k"
    )
    assert no_secret.returncode == 2
    assert "--secret-stdin" in no_secret.stderr


def test_without_a_secure_keyring_nothing_is_stored(s3_server: S3Server) -> None:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    fields = f"--endpoint={s3_server.endpoint} --bucket=datayard --access-key=k".split()
    result = run("profile", "add", "lab", *fields, "--secret-stdin", stdin="s3cret\n", env=env)
    assert result.returncode == 2
    assert "no secure keyring is available" in result.stderr
    assert "gnome-keyring" in result.stderr
    assert not AppDirs.default().settings_file.exists()
