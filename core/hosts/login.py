"""Logging in to a host by its name: its destination, and a key passphrase from the keyring."""

from __future__ import annotations

from datayard.core.errors import KeyringUnavailableError
from datayard.core.hosts.registry import Host
from datayard.core.hosts.ssh import SshConnection
from datayard.core.secrets import SecretStore


def login(host: Host, secrets: SecretStore | None = None) -> SshConnection:
    """An open connection to ``host``; without a usable keyring, keys without a passphrase."""
    try:
        passphrase = (secrets or SecretStore()).host_passphrase(host.name)
    except KeyringUnavailableError:
        passphrase = None
    return SshConnection.open(host.name, host.target, passphrase=passphrase)
