"""Reaching a host by its name: its destination, and a key passphrase from the keyring."""

from __future__ import annotations

from datayard.core.errors import KeyringUnavailableError
from datayard.core.hosts.local import LocalShell
from datayard.core.hosts.registry import LOCAL_HOST, Host
from datayard.core.hosts.shell import Shell
from datayard.core.hosts.ssh import SshConnection
from datayard.core.secrets import SecretStore


def login(host: Host, secrets: SecretStore | None = None) -> SshConnection:
    """An open connection to ``host``; without a usable keyring, keys without a passphrase."""
    try:
        passphrase = (secrets or SecretStore()).host_passphrase(host.name)
    except KeyringUnavailableError:
        passphrase = None
    return SshConnection.open(host.name, host.target, passphrase=passphrase)


def connect(host: Host, secrets: SecretStore | None = None) -> Shell:
    """A shell on ``host``: this computer's own for ``local``, else a login over SSH."""
    if host.name == LOCAL_HOST:
        return LocalShell()
    return login(host, secrets)
