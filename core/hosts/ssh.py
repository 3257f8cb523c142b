"""The one adapter to asyncssh: SSH connections to training hosts, for synchronous code.

Logins go through the user's OpenSSH set-up, read as ``ssh`` reads it:
``~/.ssh/config`` (HostName, User, Port, IdentityFile, ProxyJump), the
ssh-agent, the default keys and ``~/.ssh/known_hosts``. A host key is never
accepted silently: an unknown one ends the login with its fingerprint, for
the user to check and accept; a changed one is refused.

asyncssh is asynchronous and the rest of Datayard is iterators on threads,
so each connection runs its own event loop on a thread of its own and the
methods here wait for it. Every failure leaves as one of the project's
errors, with the next step in its message.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import queue
import shlex
import socket
import threading
import warnings
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from datayard.core.errors import (
    HostAuthenticationError,
    HostConnectionError,
    HostError,
    HostKeyChangedError,
    HostKeyUnknownError,
    HostPassphraseError,
)
from datayard.core.events import CancelToken
from datayard.core.hosts.registry import Destination
from datayard.core.hosts.shell import Completed, queued_lines

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger(__name__)

T = TypeVar("T")
CONNECT_TIMEOUT_S = 15.0
KEEPALIVE_S = 15.0
"""A host that stops answering for three of these is taken as gone, so that a follower
notices a dead network within a minute and reconnects, rather than waiting for TCP."""


def known_hosts_file() -> Path:
    return Path("~/.ssh/known_hosts").expanduser()


@dataclass
class _Seen:
    """What the login learnt of the host's key, to explain a refusal."""

    host: str = ""
    port: int = 22
    trusted: int = 0
    presented: Any = None


class SshConnection:
    """One login on a host, a :class:`~datayard.core.hosts.shell.Shell` there; closed with
    :meth:`close` or as a context manager."""

    def __init__(
        self,
        name: str,
        destination: Destination,
        connection: asyncssh.SSHClientConnection,
        loop: _Loop,
    ) -> None:
        self.name = name
        self.destination = destination
        self._connection = connection
        self._loop = loop

    @classmethod
    def open(
        cls,
        name: str,
        destination: Destination,
        *,
        passphrase: str | None = None,
        timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> SshConnection:
        _import_asyncssh()
        loop = _Loop(f"ssh-{name}")
        try:
            connection = loop.call(_connect(name, destination, passphrase, timeout_s))
        except BaseException:
            loop.close()
            raise
        return cls(name, destination, connection, loop)

    def __enter__(self) -> SshConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def lost(self) -> bool:
        """The connection ended (network gone, host rebooted, closed)."""
        return self._connection.is_closed()

    def run(self, command: str, *, input: str | None = None, timeout_s: float = 120.0) -> Completed:
        """Run ``command`` through the login shell; ``input`` goes to its stdin, then EOF.

        Secrets travel as ``input``, never in ``command``: a command line is visible to
        every user of the host in its process list.
        """
        return self._loop.call(self._run(command, input), timeout_s)

    async def _run(self, command: str, input: str | None) -> Completed:
        import asyncssh

        try:
            result = await self._connection.run(command, input=input, check=False)
        except OSError as error:
            raise self._lost(error) from error
        except asyncssh.Error as error:
            raise self._lost(error) from error
        return Completed(
            exit_status=result.exit_status if result.exit_status is not None else -1,
            stdout=_text(result.stdout),
            stderr=_text(result.stderr),
        )

    def lines(
        self, command: str, *, input: str | None = None, cancel: CancelToken | None = None
    ) -> Iterator[str]:
        """The lines ``command`` writes on stdout, as they come; ends with the command.

        Cancelling closes the channel: a command that the host runs for the stream
        alone (a follower, say) gets a hang-up; one started detached goes on.
        """
        lines: queue.Queue[str | BaseException | None] = queue.Queue()
        process = self._loop.call(self._start(command))
        pump = self._loop.submit(_pump(process, input, lines))
        try:
            yield from queued_lines(lines, cancel, self._lost)
        finally:
            self._loop.call_soon(process.close)
            pump.cancel()

    async def _start(self, command: str) -> asyncssh.SSHClientProcess[Any]:
        import asyncssh

        try:
            return await self._connection.create_process(command)
        except (OSError, asyncssh.Error) as error:
            raise self._lost(error) from error

    def upload(self, local: Path, remote: str, *, timeout_s: float = 900.0) -> None:
        """Copy a file to ``remote`` on the host (created whole: sent aside, then renamed)."""
        self._loop.call(self._upload(local, remote), timeout_s)

    async def _upload(self, local: Path, remote: str) -> None:
        import asyncssh

        partial = f"{remote}.part"
        try:
            async with self._connection.start_sftp_client() as sftp:
                await sftp.makedirs(posixpath.dirname(remote), exist_ok=True)
                await sftp.put(str(local), partial)
                await sftp.posix_rename(partial, remote)
        except (OSError, asyncssh.Error) as error:
            raise HostError(
                f"could not copy {local.name} to host {self.name!r} ({remote}): {_reason(error)}"
            ) from error

    def forward_to_local(
        self, local_port: int, *, remote_port: int = 0, local_host: str = "127.0.0.1"
    ) -> int:
        """A port on the host's loopback (``remote_port``, or a free one) that leads to
        ``local_host:local_port`` here. The tunnel lives as long as this connection."""
        listener = self._loop.call(self._forward(local_host, local_port, remote_port))
        port: int = listener.get_port()
        log.info(
            "host %s: 127.0.0.1:%d leads to %s:%d here", self.name, port, local_host, local_port
        )
        return port

    async def _forward(
        self, local_host: str, local_port: int, remote_port: int
    ) -> asyncssh.SSHListener:
        import asyncssh

        try:
            return await self._connection.forward_remote_port(
                "127.0.0.1", remote_port, local_host, local_port
            )
        except (OSError, asyncssh.Error, asyncssh.ChannelListenError) as error:
            # A port held by another login is free again once that one ends: asking again
            # may succeed. A tunnel refused outright would be refused again.
            refused = HostConnectionError if remote_port else HostError
            port = f" on its port {remote_port}" if remote_port else ""
            raise refused(
                f"host {self.name!r} refused a tunnel back to this computer{port} "
                f"({_reason(error)}); its sshd needs AllowTcpForwarding yes"
                + (", and the port must be free" if remote_port else "")
            ) from error

    def close(self) -> None:
        try:
            self._loop.call_soon(self._connection.close)
            self._loop.call(self._connection.wait_closed(), timeout_s=5.0)
        except Exception:
            log.debug("closing the connection to %s", self.name, exc_info=True)
        finally:
            self._loop.close()

    def _lost(self, error: BaseException) -> HostConnectionError:
        return HostConnectionError(
            f"the connection to host {self.name!r} ({self.destination}) was lost: {_reason(error)}"
        )


async def _pump(
    process: asyncssh.SSHClientProcess[Any],
    input: str | None,
    lines: queue.Queue[str | BaseException | None],
) -> None:
    try:
        if input is not None:
            process.stdin.write(input)
        process.stdin.write_eof()
        async for line in process.stdout:
            if not line:  # the end of the stream
                break
            lines.put(_text(line).rstrip("\n"))
        await process.wait_closed()
        lines.put(None)
    except asyncio.CancelledError:
        raise
    except BaseException as error:
        lines.put(error)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else ""


async def _connect(
    name: str, destination: Destination, passphrase: str | None, timeout_s: float
) -> asyncssh.SSHClientConnection:
    import asyncssh

    seen = _Seen()
    try:
        options = asyncssh.SSHClientConnectionOptions(
            config=(),  # the user's ~/.ssh/config, as connect() reads it by default
            host=destination.host,
            username=destination.user or (),
            port=destination.port or (),
            known_hosts=_trusted_keys(seen),
            passphrase=passphrase,
            connect_timeout=timeout_s,
            keepalive_interval=KEEPALIVE_S,
            keepalive_count_max=3,
        )
    except asyncssh.KeyEncryptionError as error:
        raise HostPassphraseError(
            f"host {name!r}: the passphrase of your SSH key is wrong ({error})"
        ) from error
    except (asyncssh.KeyImportError, OSError) as error:
        raise HostAuthenticationError(
            f"host {name!r}: cannot read your SSH key: {error}"
        ) from error

    class Client(asyncssh.SSHClient):
        def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
            seen.presented = key
            return False

    try:
        connection, _ = await asyncssh.create_connection(
            Client, destination.host, destination.port or (), options=options
        )
    except asyncssh.HostKeyNotVerifiable as error:
        raise _key_refused(name, destination, seen) from error
    except asyncssh.PermissionDenied as error:
        raise _auth_failed(name, destination, options, passphrase) from error
    except (OSError, TimeoutError, asyncssh.Error) as error:
        raise HostConnectionError(
            f"cannot reach host {name!r} ({destination}): {_reason(error)}"
        ) from error
    return connection


def _trusted_keys(seen: _Seen) -> Any:
    """The user's known hosts, noting which host the login asked about and what it found."""

    def match(host: str, addr: str, port: int) -> Any:
        import asyncssh

        path = known_hosts_file()
        known = asyncssh.read_known_hosts(str(path)) if path.is_file() else None
        found = known.match(host, addr, port) if known else ([], [], [], [], [], [], [])
        seen.host, seen.port, seen.trusted = host, port, len(found[0]) + len(found[1])
        return found

    return match


def _key_refused(name: str, destination: Destination, seen: _Seen) -> Exception:
    key = seen.presented
    if key is None:
        return HostConnectionError(f"host {name!r} ({destination}): its host key was refused")
    fingerprint = key.get_fingerprint("sha256")
    where = seen.host if seen.port == 22 else f"[{seen.host}]:{seen.port}"
    line = (
        f"{where} {key.export_public_key('openssh').decode().split()[0]} "
        + (key.export_public_key("openssh").decode().split()[1])
    )
    if seen.trusted:
        return HostKeyChangedError(
            f"WARNING: the host key of {name!r} ({where}) has CHANGED: it is now {fingerprint}. "
            "Someone could be intercepting the connection, or the host was reinstalled. "
            f"Ask its administrator; if the change is expected, remove the old key with "
            f"'ssh-keygen -R {shlex.quote(where)}' and add the host again"
        )
    return HostKeyUnknownError(
        f"host {name!r} ({where}) presents an unknown host key {fingerprint}: compare it "
        "with the one its administrator gives you (ssh-keygen -lf on the host's "
        "/etc/ssh/ssh_host_*_key.pub) and accept it",
        fingerprint=fingerprint,
        known_hosts_line=line,
    )


def _auth_failed(
    name: str, destination: Destination, options: Any, passphrase: str | None
) -> Exception:
    tried = [f"{k.get_algorithm()} key {k.get_comment()!r}" for k in options.client_keys or []]
    if options.agent_path:
        tried.append("the keys of the ssh-agent")
    if passphrase is None and _needs_passphrase(destination):
        return HostPassphraseError(
            f"host {name!r}: your SSH key has a passphrase; give it once and Datayard keeps "
            "it in the keyring",
            needed=True,
        )
    user = options.username
    return HostAuthenticationError(
        f"host {name!r} refused the login of {user!r} ({destination}); tried: "
        f"{', '.join(tried) or 'no key (none in ~/.ssh, no ssh-agent)'}. Check that your "
        "public key is in the host's ~/.ssh/authorized_keys, or name the key with "
        "IdentityFile in ~/.ssh/config"
    )


def _needs_passphrase(destination: Destination) -> bool:
    """Whether a key the login would use is encrypted: asyncssh skips those without a word."""
    import asyncssh

    try:
        asyncssh.SSHClientConnectionOptions(
            config=(), host=destination.host, passphrase="\0 datayard: is any key encrypted?"
        )
    except asyncssh.KeyEncryptionError:
        return True
    except Exception:
        return False
    return False


def _reason(error: BaseException) -> str:
    if isinstance(error, socket.gaierror):
        return "the name is not known (DNS); check the host name"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: no SSH server listens there (check the port)"
    if isinstance(error, TimeoutError):
        return "no answer (timed out): is the host up and on this network?"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    reason = getattr(error, "reason", "") or str(error)
    return str(reason) or type(error).__name__


def _import_asyncssh() -> None:
    """asyncssh is imported on first use (the app's start-up does not need it), and once
    quietly: the cryptography package warns about DSA at import, which no login here uses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import asyncssh  # noqa: F401


class _Loop:
    """An event loop on a thread of its own, for one connection."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        future = self.submit(coroutine)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise HostConnectionError("the host did not answer in time") from None

    def call_soon(self, function: Any) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(function)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self._loop.close()


def accept_host_key(line: str) -> Path:
    """Add a checked key to the user's known hosts, as ``ssh`` does when told yes."""
    path = known_hosts_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(line.rstrip("\n") + "\n")
    path.chmod(0o600)
    return path
