"""The SSH test host, reached with the product's SSH library: what remote-training tests rely on."""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.fixtures.ssh_host import REGISTRY, SshHost, remove_leftovers, running_ssh_host
from tests.fixtures.waits import until

ROOT = Path(__file__).resolve().parents[2]
GREETING = "hello from the workstation"
READ_LOOPBACK = (
    "import socket, sys; "
    "print(socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=30).recv(64).decode())"
)
"""Prints what a server on the host's own 127.0.0.1 at port argv[1] says first."""
KILLED_SESSION = """
import sys, time
from pathlib import Path
from tests.fixtures.ssh_host import running_ssh_host
with running_ssh_host(Path(sys.argv[1])) as host:
    print(host.namespace, host.home, host.sshd_pid, flush=True)
    time.sleep(600)
"""
"""A test session that sets a host up, says what it made, and waits to be killed."""
EVERY_TRACE = {"namespace", "veth", "user", "home", "registry"}


def connect(host: SshHost, known_hosts: Path) -> Any:
    """Log in with the client key alone: no agent, no OpenSSH configuration of this machine."""
    import asyncssh

    return asyncssh.connect(
        host.address,
        port=host.port,
        username=host.user,
        client_keys=[str(host.client_key)],
        known_hosts=str(known_hosts),
        agent_path=None,
        config=[],
    )


@pytest.fixture
def known_hosts(ssh_host: SshHost, tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(ssh_host.known_hosts_line() + "\n")
    return path


def traces(namespace: str, home: Path) -> set[str]:
    """What is left on this machine of the host named ``namespace``."""
    found = {
        "namespace": namespace
        in subprocess.check_output(["ip", "netns", "list"], text=True).split(),
        "veth": Path("/sys/class/net", namespace).exists(),
        "user": namespace in {account.pw_name for account in pwd.getpwall()},
        "home": home.exists(),
        "registry": (REGISTRY / namespace).exists(),
    }
    return {name for name, present in found.items() if present}


def running(pid: int) -> bool:
    """Whether ``pid`` runs: a killed process may wait a while for init to reap it."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_client_key_logs_in_as_the_user_into_a_private_home(
    ssh_host: SshHost, known_hosts: Path
) -> None:
    async def session() -> tuple[str, str, str]:
        async with connect(ssh_host, known_hosts) as connection:
            who = await connection.run("id -un", check=True)
            home = await connection.run("echo $HOME", check=True)
            return connection.get_server_host_key().get_fingerprint(), who.stdout, home.stdout

    fingerprint, who, home = asyncio.run(session())
    assert who.strip() == ssh_host.user != "root"
    assert home.strip() == str(ssh_host.home)
    assert fingerprint == ssh_host.host_fingerprint
    assert stat.S_IMODE(ssh_host.home.stat().st_mode) == 0o700
    assert ssh_host.home.owner() == ssh_host.user


def test_an_unknown_host_key_is_refused(ssh_host: SshHost, tmp_path: Path) -> None:
    import asyncssh

    empty = tmp_path / "known_hosts"
    empty.write_text("")

    async def session() -> None:
        async with connect(ssh_host, empty):
            pass

    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        asyncio.run(session())


def test_the_machine_loopback_is_reached_from_the_host_only_through_a_reverse_tunnel(
    ssh_host: SshHost, known_hosts: Path
) -> None:
    async def greet(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING.encode())
        await writer.drain()
        writer.close()

    async def scenario() -> tuple[subprocess.CompletedProcess[str], Any]:
        async with await asyncio.start_server(greet, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            read = [str(ssh_host.python), "-c", READ_LOOPBACK, str(port)]
            direct = await asyncio.to_thread(ssh_host.run_as_user, *read)
            async with connect(ssh_host, known_hosts) as connection:
                # The same port on the host's own loopback, forwarded to this machine's.
                tunnel = await connection.forward_remote_port("127.0.0.1", port, "127.0.0.1", port)
                tunnelled = await connection.run(shlex.join(read))
                tunnel.close()
            return direct, tunnelled

    direct, tunnelled = asyncio.run(scenario())
    assert direct.returncode != 0
    assert "ConnectionRefusedError" in direct.stderr
    assert tunnelled.exit_status == 0, tunnelled.stderr
    assert tunnelled.stdout.strip() == GREETING


def test_a_server_on_the_machine_end_of_the_link_is_reached_from_the_host_directly(
    ssh_host: SshHost,
) -> None:
    async def greet(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING.encode())
        await writer.drain()
        writer.close()

    async def scenario() -> subprocess.CompletedProcess[str]:
        async with await asyncio.start_server(greet, ssh_host.machine_address, 0) as server:
            port = server.sockets[0].getsockname()[1]
            reach = READ_LOOPBACK.replace("'127.0.0.1'", repr(ssh_host.machine_address))
            return await asyncio.to_thread(
                ssh_host.run_as_user, ssh_host.python, "-c", reach, str(port)
            )

    reached = asyncio.run(scenario())
    assert reached.returncode == 0, reached.stderr
    assert reached.stdout.strip() == GREETING


def test_a_host_refusing_connections_keeps_those_open_until_it_accepts_again(
    ssh_host: SshHost, known_hosts: Path
) -> None:
    async def scenario() -> tuple[str, BaseException | None, str]:
        async with connect(ssh_host, known_hosts) as connection:
            await asyncio.to_thread(ssh_host.refuse_connections)
            try:
                try:
                    async with connect(ssh_host, known_hosts):
                        refused = None
                except OSError as error:
                    refused = error
                still_open = await connection.run("echo open", check=True)
            finally:
                await asyncio.to_thread(ssh_host.accept_connections)
        async with connect(ssh_host, known_hosts) as again:
            accepted = await again.run("echo accepted", check=True)
        return str(still_open.stdout).strip(), refused, str(accepted.stdout).strip()

    still_open, refused, accepted = asyncio.run(scenario())
    assert isinstance(refused, ConnectionRefusedError)
    assert (still_open, accepted) == ("open", "accepted")


def test_a_detached_process_outlives_the_connection(ssh_host: SshHost, known_hosts: Path) -> None:
    async def start() -> int:
        async with connect(ssh_host, known_hosts) as connection:
            started = await connection.run(
                "setsid nohup sleep 600 > /dev/null 2>&1 & echo $!", check=True
            )
            return int(started.stdout)

    def connection_served() -> bool:
        """Whether sshd has ended its side of the user's connections."""
        return not any(
            process.info["name"] == "sshd" and process.info["username"] == ssh_host.user
            for process in psutil.process_iter(["name", "username"])
            if running(process.pid)
        )

    def became(name: str) -> bool:
        """The shell's child is itself until it has run the command: it may not have yet."""
        return psutil.Process(pid).name() == name

    pid = asyncio.run(start())
    try:
        assert until(connection_served)
        assert until(lambda: became("sleep"))
        detached = psutil.Process(pid)
        assert detached.status() != psutil.STATUS_ZOMBIE
        assert detached.username() == ssh_host.user
    finally:
        os.kill(pid, signal.SIGKILL)


def test_a_host_whose_user_cannot_run_python_fails_naming_it_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o700)  # root's alone
    made: list[SshHost] = []

    with (
        pytest.raises(pytest.fail.Exception) as failure,
        running_ssh_host(tmp_path / "host", python) as host,
    ):
        made.append(host)

    assert f"cannot run Datayard with {python}" in str(failure.value)
    assert str(failure.value).endswith(f"as others:\n    {python}")
    assert not made
    named = re.search(r"its user (dy-[0-9a-f]+) ", str(failure.value))
    assert named
    assert traces(named[1], Path("/home", named[1])) == set()
    assert not (tmp_path / "host").exists()


def test_a_host_is_removed_after_its_block_fails(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="a test failed"),
        running_ssh_host(tmp_path / "host") as host,
    ):
        assert traces(host.namespace, host.home) == EVERY_TRACE
        raise RuntimeError("a test failed")

    assert traces(host.namespace, host.home) == set()
    assert not running(host.sshd_pid)
    assert not (tmp_path / "host").exists()


def test_what_a_killed_session_left_is_removed_and_a_living_one_kept(
    ssh_host: SshHost, tmp_path: Path
) -> None:
    session = subprocess.Popen(
        [sys.executable, "-c", KILLED_SESSION, str(tmp_path / "host")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert session.stdout is not None
    with session:
        made = session.stdout.readline()
        session.kill()
    assert made, "the session set no host up"
    namespace, home, sshd = made.split()
    assert traces(namespace, Path(home)) == EVERY_TRACE
    assert running(int(sshd))

    remove_leftovers()

    assert traces(namespace, Path(home)) == set()
    assert not running(int(sshd))
    assert traces(ssh_host.namespace, ssh_host.home) == EVERY_TRACE
    assert ssh_host.run_as_user("true").returncode == 0
