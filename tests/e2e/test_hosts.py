"""Training hosts over SSH against a real sshd in its own network namespace.

The client side is a user's OpenSSH set-up in a temporary home (the
``ssh_home`` fixture): ~/.ssh/config names the host by an alias with its
HostName, Port, User and IdentityFile, as people write it, and
~/.ssh/known_hosts is where accepted keys go.
"""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from datayard.core.errors import HostPassphraseError
from datayard.core.hosts.login import login
from datayard.core.hosts.registry import Host
from datayard.core.secrets import SecretStore
from tests.fixtures.datasets import run_cli
from tests.fixtures.ssh_host import (
    ALIAS,
    SshHost,
    known,
    known_with_another_key,
    locked_key,
    write_config,
)


def listed_hosts() -> str:
    listing = run_cli("host", "list")
    assert listing.returncode == 0, listing.stderr
    return listing.stdout + listing.stderr


def test_an_unknown_host_key_is_shown_and_accepted_only_by_its_fingerprint(
    ssh_home: Path, ssh_host: SshHost
) -> None:
    refused = run_cli("host", "add", "gpu1", ALIAS)
    assert refused.returncode == 2
    assert ssh_host.host_fingerprint in refused.stderr
    assert f"--accept-host-key {ssh_host.host_fingerprint}" in refused.stderr
    assert not (ssh_home / ".ssh" / "known_hosts").exists()
    assert "gpu1" not in listed_hosts()

    wrong = run_cli("host", "add", "gpu1", ALIAS, "--accept-host-key", "SHA256:" + "A" * 43)
    assert wrong.returncode == 2
    assert "not accepted" in wrong.stderr
    assert "gpu1" not in listed_hosts()

    accepted = run_cli("host", "add", "gpu1", ALIAS, "--accept-host-key", ssh_host.host_fingerprint)
    assert accepted.returncode == 0, accepted.stderr
    line = (ssh_home / ".ssh" / "known_hosts").read_text()
    assert ssh_host.host_public_key.split()[1] in line
    # OpenSSH itself now trusts the host as Datayard does.
    ssh = subprocess.run(
        [
            "ssh",
            "-F",
            str(ssh_home / ".ssh" / "config"),
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={ssh_home / '.ssh' / 'known_hosts'}",
            ALIAS,
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(ssh_home), "PATH": "/usr/bin:/bin"},
    )
    assert ssh.returncode == 0, ssh.stderr
    assert "gpu1" in listed_hosts()
    again = run_cli("host", "add", "gpu1", ALIAS)
    assert again.returncode == 2
    assert "exists" in again.stderr


def test_a_changed_host_key_is_refused_with_a_warning(
    ssh_home: Path, ssh_host: SshHost, tmp_path: Path
) -> None:
    known_with_another_key(ssh_home, ssh_host, tmp_path)

    refused = run_cli("host", "add", "gpu1", ALIAS, "--accept-host-key", ssh_host.host_fingerprint)

    assert refused.returncode == 1
    assert "CHANGED" in refused.stderr
    assert ssh_host.host_fingerprint in refused.stderr
    assert "ssh-keygen -R" in refused.stderr
    assert "gpu1" not in listed_hosts()


def test_a_refused_login_names_the_key_it_tried(
    ssh_home: Path, ssh_host: SshHost, tmp_path: Path
) -> None:
    stranger = tmp_path / "id_stranger"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stranger-key", "-f", str(stranger)],
        check=True,
    )
    write_config(ssh_home, ssh_host, stranger)
    known(ssh_home, ssh_host)

    refused = run_cli("host", "add", "gpu1", ALIAS)

    assert refused.returncode == 1
    assert f"refused the login of '{ssh_host.user}'" in refused.stderr
    assert "stranger-key" in refused.stderr
    assert "authorized_keys" in refused.stderr


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        ("nobody@no-such-host.invalid", "the name is not known"),
        ("nobody@127.0.0.1:9", "connection refused"),
    ],
)
def test_an_unreachable_host_says_why(ssh_home: Path, destination: str, reason: str) -> None:
    failed = run_cli("host", "add", "far", destination)

    assert failed.returncode == 1
    assert reason in failed.stderr
    assert "far" not in listed_hosts()


def test_destinations_and_names_that_cannot_work_are_refused_before_any_login(
    ssh_home: Path,
) -> None:
    for name, destination, problem in [
        ("gpu1", "-oProxyCommand=x", "write it as user@host"),
        ("gpu1", "user@host:99999", "the port must be a number"),
        ("local", "user@host", "means this computer"),
        ("../x", "user@host", "not valid"),
    ]:
        refused = run_cli("host", "add", "--", name, destination)
        assert refused.returncode == 2, (name, destination)
        assert problem in refused.stderr


def test_a_key_passphrase_comes_from_the_keyring(
    ssh_home: Path, ssh_host: SshHost, tmp_path: Path, secret_service: str
) -> None:
    locked = locked_key(ssh_host, tmp_path / "id_locked", "open sesame")
    write_config(ssh_home, ssh_host, locked)
    known(ssh_home, ssh_host)
    host = Host(name="gpu1", destination=ALIAS)
    secrets = SecretStore()

    with pytest.raises(HostPassphraseError) as asked:
        login(host, secrets)
    assert asked.value.needed

    secrets.set_host_passphrase("gpu1", "open sesame")
    with login(host, secrets) as connection:
        assert connection.run("id -un").stdout.strip() == ssh_host.user
    # The commands open the key with it too.
    assert run_cli("host", "add", "gpu1", ALIAS).returncode == 0
    tested = run_cli("host", "test", "gpu1")
    assert "✓ authentication" in tested.stdout, tested.stdout
    secrets.delete_host_passphrase("gpu1")


def test_host_test_answers_each_question_and_setup_makes_the_worker_ready(
    ssh_home: Path, ssh_host: SshHost
) -> None:
    known(ssh_home, ssh_host)
    assert run_cli("host", "add", "gpu1", ALIAS).returncode == 0

    before = run_cli("host", "test", "gpu1")

    assert before.returncode == 1  # the worker environment is not there yet
    lines = {line.split()[1]: line for line in before.stdout.splitlines() if line[:1] in "✓!✗"}
    assert lines["reachable"].startswith("✓")
    assert lines["authentication"].startswith("✓")
    assert lines["python"].startswith("✓") and "Python 3." in lines["python"]
    assert lines["gpus"].startswith("!") and "none" in lines["gpus"]
    assert lines["disk"].startswith("✓") and "free in" in lines["disk"]
    # The embedded store is on this computer's loopback: the host reaches it by tunnel.
    assert lines["store"].startswith("!") and "tunnel" in before.stdout
    assert lines["worker"].startswith("✗") and "datayard host setup gpu1" in before.stdout

    setup = run_cli("host", "setup", "gpu1", "--python", str(ssh_host.python))
    assert setup.returncode == 0, setup.stdout + setup.stderr
    environment = ssh_host.home / ".local/share/datayard/worker" / version("datayard")
    installed = ssh_host.run_as_user(
        environment / "bin/python",
        "-c",
        "import datayard.core as c, importlib.metadata as m; "
        "print(c.__file__, m.version('datayard'))",
    )
    # This exact Datayard, installed from its wheel into the environment, not the checkout.
    assert installed.returncode == 0, installed.stderr
    assert str(environment) in installed.stdout
    assert version("datayard") in installed.stdout

    again = run_cli("host", "setup", "gpu1", "--python", str(ssh_host.python))
    assert again.returncode == 0
    assert "already set up" in again.stderr

    after = run_cli("host", "test", "gpu1")
    assert after.returncode == 0, after.stdout
    assert "✓ worker" in after.stdout and f"Datayard {version('datayard')}" in after.stdout
