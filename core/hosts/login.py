"""Reaching a host by its name: its destination, and a key passphrase from the keyring."""

from __future__ import annotations

from datayard.core.errors import KeyringUnavailableError
from datayard.core.hosts.local import LocalShell
from datayard.core.hosts.registry import LOCAL_HOST, Host
from datayard.core.hosts.shell import Shell
from datayard.core.hosts.ssh import SshConnection
from datayard.core.secrets import SecretStore


def login(
    host: Host, secrets: SecretStore | None = None, *, passphrase: str | None = None
) -> SshConnection:
    """An open connection to ``host``, the user's key opened with ``passphrase`` or else
    the one kept for the host; without a usable keyring, keys without a passphrase."""
    if passphrase is None:
        passphrase = stored_passphrase(host, secrets)
    return SshConnection.open(host.name, host.target, passphrase=passphrase)


def stored_passphrase(host: Host, secrets: SecretStore | None = None) -> str | None:
    """The key passphrase kept in the keyring for ``host``; ``None`` without one or a keyring."""
    try:
        return (secrets or SecretStore()).host_passphrase(host.name)
    except KeyringUnavailableError:
        return None


def connect(host: Host, secrets: SecretStore | None = None) -> Shell:
    """A shell on ``host``: this computer's own for ``local``, else a login over SSH."""
    if host.name == LOCAL_HOST:
        return LocalShell()
    return login(host, secrets)
