"""The packaged app: built by packaging/build-linux.sh, then run as a user runs it.

The bundle and the .deb are built once per test session into a temporary
folder, so nothing lands in the repository. Every command then runs the
bundle's own executable, where ``sys.executable`` is the app and not a Python,
with a PATH that holds no virtual environment: the ``weed`` server, the icons
and the version must all come from inside the bundle.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

from datayard.core.datasets.catalog import Catalog
from datayard.core.datasets.push.queue import Job, JobState, JobStore
from datayard.core.datasets.push.request import PushRequest
from datayard.core.paths import AppDirs
from datayard.core.settings import LOCAL_PROFILE, Settings
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from tests.e2e.test_push import write_images
from tests.e2e.test_training import HOOK
from tests.fixtures.datasets import sample_files
from tests.fixtures.training import PROFILE, TrainingStore
from tests.fixtures.xvfb import needs_x, x_display

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "packaging" / "build-linux.sh"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
"""No virtual environment on it: a `weed` or `datayard` found there would not be the bundle's."""

BUILD_TIMEOUT_S = 900
"""The build's own limit: PyInstaller took about a minute here, on two busy cores far longer."""

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="packaging/build-linux.sh builds for Linux"
    ),
    # Each test is timed without the build, which runs once, in the first one's set-up.
    pytest.mark.timeout(300, func_only=True),
]


@dataclass(frozen=True)
class Build:
    app: Path
    """The bundle's executable, dist/datayard/datayard."""
    deb: Path | None
    """The .deb, when dpkg-deb is there to build it."""
    version: str


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    """The bundle (and .deb), built once for the session within :data:`BUILD_TIMEOUT_S`."""
    out = tmp_path_factory.mktemp("packaging")
    dist, work = out / "dist", out / "work"
    command = ["bash", str(BUILD_SCRIPT), "--dist", str(dist), "--work", str(work)]
    if shutil.which("dpkg-deb") is None:
        command.append("--no-deb")
    result = subprocess.run(
        command,
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    if result.returncode == 3:  # the script's code for "what it needs cannot be installed"
        pytest.skip(f"PyInstaller or weed is missing and could not be installed: {result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    shutil.rmtree(work)
    debs = sorted(dist.glob("datayard_*.deb"))
    yield Build(dist / "datayard" / "datayard", debs[0] if debs else None, version("datayard"))
    shutil.rmtree(out, ignore_errors=True)


def run(app: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the bundle with this test's private folders and keyring, and a system PATH."""
    return subprocess.run(
        [str(app), *args],
        env={**os.environ, "PATH": SYSTEM_PATH, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version_from_the_bundle_and_through_a_link(build: Build, tmp_path: Path) -> None:
    shown = run(build.app, "--version")
    assert shown.returncode == 0, shown.stderr
    assert build.version in shown.stdout
    # The About box reads pyqtgraph's version from its metadata, as --version reads ours.
    assert list((build.app.parent / "_internal").glob("pyqtgraph-*.dist-info/METADATA"))
    # As /usr/bin/datayard runs it: a symbolic link to the executable.
    link = tmp_path / "bin" / "datayard"
    link.parent.mkdir()
    link.symlink_to(build.app)
    assert build.version in run(link, "--version").stdout


def test_scan_json_from_the_bundle(build: Build, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    for name, data in sample_files(extra_train=2).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    scanned = run(build.app, "scan", str(folder), "--json")
    assert scanned.returncode == 0, scanned.stderr
    summary = json.loads(scanned.stdout)
    assert summary["files"] == 10
    assert summary["kinds"] == {"image": 5, "label": 5}
    assert summary["splits"] == {"train": 4, "val": 1}


def store_pid(app: Path) -> int | None:
    status = run(app, "store", "status")
    if status.returncode == 3:
        return None
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("running"), status.stdout
    return int(status.stdout.split()[2])  # "running  pid <pid>  <endpoint>  data <folder>"


def assert_bundled_weed(app: Path, pid: int) -> None:
    """The server that runs is the `weed` inside the bundle (sys._MEIPASS), not the venv's."""
    assert Path(f"/proc/{pid}/exe").resolve() == (app.parent / "_internal" / "weed").resolve()


@pytest.mark.usefixtures("secret_service")
def test_embedded_store_from_the_bundle(build: Build) -> None:
    assert store_pid(build.app) is None
    started = run(build.app, "store", "start")
    assert started.returncode == 0, started.stderr
    pid = store_pid(build.app)
    assert pid is not None
    assert_bundled_weed(build.app, pid)
    stopped = run(build.app, "store", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "Stopped" in stopped.stderr
    assert store_pid(build.app) is None


def wait_for(what: str, check: Callable[[], bool], app: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``check`` until true; fail at once with the app's output if the app exits."""
    deadline = time.monotonic() + 60
    while not check():
        if app.poll() is not None:
            pytest.fail(f"the app exited ({app.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within 60 s:\n{log.read_text()}")
        time.sleep(0.3)


class GuiSession:
    """`datayard gui` from the bundle, on an X server of its own, driven with xdotool."""

    def __init__(self, app: subprocess.Popen[bytes], log: Path, env: dict[str, str]) -> None:
        self.app, self.log, self.env = app, log, env
        self.windows: dict[str, list[str]] = {}

    def xdotool(self, *args: str) -> list[str]:
        found = subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=10
        )
        return found.stdout.split() if found.returncode == 0 else []

    def shown(self, title: str) -> Callable[[], bool]:
        def check() -> bool:
            self.windows[title] = self.xdotool("search", "--onlyvisible", "--name", f"^{title}$")
            return bool(self.windows[title])

        return check

    def wait_for(self, what: str, check: Callable[[], bool]) -> None:
        wait_for(what, check, self.app, self.log)

    def press(self, title: str, key: str) -> None:
        """Press ``key`` in the window titled ``title`` (shown, see :meth:`shown`)."""
        self.xdotool("windowfocus", self.windows[title][0])
        self.xdotool("key", key)

    def quit(self) -> None:
        """Ctrl+Q in the main window: the app must exit cleanly."""
        self.press("Datayard", "ctrl+q")
        assert self.app.wait(timeout=30) == 0, self.log.read_text()
        assert "Traceback" not in self.log.read_text()


@contextlib.contextmanager
def bundle_gui(build: Build, tmp_path: Path) -> Iterator[GuiSession]:
    """The bundle's GUI on a fresh Xvfb; whatever a test leaves running is stopped."""
    with x_display() as display:
        env = dict(os.environ, PATH=SYSTEM_PATH, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        log = tmp_path / "gui.log"
        with log.open("wb") as output:
            app = subprocess.Popen(
                [str(build.app), "gui"], env=env, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            yield GuiSession(app, log, env)
        finally:
            if app.poll() is None:
                app.kill()
                app.wait(timeout=10)


@needs_x
@pytest.mark.usefixtures("secret_service")
def test_gui_from_the_bundle_on_a_real_x_server(build: Build, tmp_path: Path) -> None:
    """`datayard gui` from the bundle: its window, the welcome, its store, Ctrl+Q."""
    with bundle_gui(build, tmp_path) as gui:
        gui.wait_for("main window", gui.shown("Datayard"))
        # A first start: the store is started in the background and the welcome asks.
        gui.wait_for("welcome dialog", gui.shown("Welcome to Datayard"))
        gui.wait_for("embedded store", lambda: store_pid(build.app) is not None)
        pid = store_pid(build.app)
        assert pid is not None
        assert_bundled_weed(build.app, pid)

        gui.press("Welcome to Datayard", "Escape")  # "Not now"
        gui.wait_for("welcome closed", lambda: not gui.shown("Welcome to Datayard")())
        gui.quit()
        # The app stops the store it started.
        assert store_pid(build.app) is None


@needs_x
@pytest.mark.usefixtures("secret_service")
def test_a_push_from_the_bundle_runs_in_its_child_process(build: Build, tmp_path: Path) -> None:
    """The bundle starts the push's child process as its own executable, and it pushes.

    A push left unfinished by an earlier session is offered at start; Return
    takes the default answer, "Resume all".
    """
    source = write_images(tmp_path / "share" / "ada" / "pets", 6)
    workspace = Workspace.default()
    workspace.save(Settings(owner="ada", roots=(str(source.parent),)))
    request = PushRequest((source,), "pets", LOCAL_PROFILE)
    JobStore(workspace.dirs.database).save(Job("left-over", request, JobState.INTERRUPTED))

    with bundle_gui(build, tmp_path) as gui:
        gui.wait_for("the offer to resume", gui.shown("Resume unfinished pushes\\?"))
        gui.press("Resume unfinished pushes\\?", "Return")
        gui.wait_for("the push to end", lambda: not JobStore(workspace.dirs.database).load())
        connection = workspace.connect(LOCAL_PROFILE)  # the store the app started
        versions = Catalog(Bucket(connection.profile, connection.secret)).versions("ada", "pets")
        assert len(versions) == 1, gui.log.read_text()
        gui.wait_for("the main window", gui.shown("Datayard"))
        gui.quit()


def test_the_bundle_trains_after_installing_training_support(
    build: Build, training_store: TrainingStore, tmp_path: Path
) -> None:
    """The bundle carries no torch and is no Python: it refuses to train until `host setup
    local` has made this computer's worker environment from the wheel it ships, and then
    trains with that environment's Python."""
    wheel = f"datayard-{build.version}-py3-none-any.whl"
    shipped = build.app.parent / "_internal" / "datayard" / "resources" / "wheels" / wheel
    with zipfile.ZipFile(shipped) as archive:
        assert "datayard/core/training/worker.py" in archive.namelist()
    train = ("train", "me/shapes", "--epochs", "1", "--imgsz", "64", "--batch", "4")
    tiny = (*train, "--workers", "0", "--device", "cpu", "--no-plots", "--profile", PROFILE)

    refused = run(build.app, *tiny)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "this computer cannot train yet" in refused.stderr
    assert "datayard host setup local" in refused.stderr
    assert json.loads(run(build.app, "runs", "--json").stdout) == []  # nothing started

    setup = run(build.app, "host", "setup", "local", "--python", sys.executable)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    # The wheel it installed is the one it ships: a bundle has no sources to build one from.
    copied = AppDirs.default().data / "worker" / "wheels" / wheel
    assert copied.read_bytes() == shipped.read_bytes()
    tested = run(build.app, "host", "test", "local")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "✓ worker" in tested.stdout

    network = tmp_path / "network.log"
    trained = run(build.app, *tiny, PYTHONPATH=str(HOOK), DATAYARD_NETWORK_LOG=str(network))
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "finished after 1 epoch" in trained.stdout
    (listed,) = json.loads(run(build.app, "runs", "--json").stdout)
    assert listed["status"] == "finished" and listed["dataset"] == training_store.ref
    assert not network.exists(), network.read_text()


def test_programs_the_bundle_starts_load_the_systems_libraries(
    build: Build, tmp_path: Path
) -> None:
    """PyInstaller puts the bundle's libraries first on LD_LIBRARY_PATH; a Python the app
    starts (here the one the host checks run) gets the user's own value back."""
    seen = tmp_path / "seen"
    spy = tmp_path / "bin" / "python3"
    spy.parent.mkdir()
    spy.write_text(f'#!/bin/sh\necho "$LD_LIBRARY_PATH" > {seen}\nexec /usr/bin/python3 "$@"\n')
    spy.chmod(0o755)

    run(
        build.app,
        "host",
        "test",
        "local",
        PATH=f"{spy.parent}:{SYSTEM_PATH}",
        LD_LIBRARY_PATH="/opt/lab/lib",
    )

    assert seen.read_text() == "/opt/lab/lib\n"


def test_deb_contents(build: Build, tmp_path: Path) -> None:
    if build.deb is None:
        pytest.skip("dpkg-deb is missing: only the bundle was built")
    assert build.deb.name.startswith(f"datayard_{build.version}_")
    fields = subprocess.run(
        ["dpkg-deb", "--field", str(build.deb)], capture_output=True, text=True, check=True
    ).stdout
    assert "Package: datayard\n" in fields
    assert f"Version: {build.version}\n" in fields
    depends = fields.split("\nDepends: ")[1].splitlines()[0].split(", ")
    assert depends[0].startswith("libc6 (>= 2.")
    assert {"libgl1", "libegl1", "libfontconfig1", "libxkbcommon0", "libdbus-1-3"} <= set(depends)
    assert "Recommends: gnome-keyring\n" in fields

    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(build.deb)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    # "-rwxr-xr-x root/root 1234 2026-01-01 00:00 ./opt/datayard/datayard"
    entries = {line.split(None, 5)[5]: line.split()[:2] for line in listing}
    assert {owner for _mode, owner in entries.values()} == {"root/root"}
    assert entries["./opt/datayard/datayard"][0] == "-rwxr-xr-x"
    assert entries["./opt/datayard/_internal/weed"][0] == "-rwxr-xr-x"
    assert "./usr/bin/datayard -> /opt/datayard/datayard" in entries
    assert entries["./usr/bin/datayard-gui"][0] == "-rwxr-xr-x"
    assert entries["./usr/share/applications/datayard.desktop"][0] == "-rw-r--r--"
    assert "./usr/share/icons/hicolor/scalable/apps/datayard.svg" in entries
    assert "./opt/datayard/_internal/datayard/resources/icons/datayard.svg" in entries

    # Unpacked elsewhere than /opt, the app still finds everything relative to itself.
    subprocess.run(["dpkg-deb", "--extract", str(build.deb), str(tmp_path)], check=True)
    wrapper = (tmp_path / "usr" / "bin" / "datayard-gui").read_text()
    assert "exec /opt/datayard/datayard gui" in wrapper
    unpacked = run(tmp_path / "opt" / "datayard" / "datayard", "--version")
    assert build.version in unpacked.stdout, unpacked.stderr
