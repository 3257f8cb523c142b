"""Adding and removing a training host.

A host is added only after a login succeeded, so that what a user must settle
in person is settled once, before any run: an unknown host key (compared with
the administrator's fingerprint, then accepted with
:func:`~datayard.core.hosts.ssh.accept_host_key`) and the passphrase of the
user's key (kept in the keyring once it has opened the key, never before, so a
mistyped one is not kept).
"""

from __future__ import annotations

from datayard.core.events import CancelToken, check_cancel
from datayard.core.hosts.login import login
from datayard.core.hosts.registry import Host, HostRegistry
from datayard.core.secrets import SecretStore


def add_host(
    registry: HostRegistry,
    host: Host,
    secrets: SecretStore | None = None,
    *,
    passphrase: str | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Log in to ``host`` once, then keep it (and ``passphrase``, which opened the key).

    Raises what the login met for the caller to settle and call again:
    :class:`HostKeyUnknownError` (its fingerprint, for the user to compare),
    :class:`HostPassphraseError` with ``needed`` (ask for the passphrase);
    a changed host key or a refused login are final. Cancelled during the
    login, nothing is kept.
    """
    host = host.validated()
    registry.check_new(host.name)
    login(host, secrets, passphrase=passphrase).close()
    check_cancel(cancel)
    if passphrase is not None:
        (secrets or SecretStore()).set_host_passphrase(host.name, passphrase)
    registry.add(host)


def remove_host(registry: HostRegistry, name: str, secrets: SecretStore | None = None) -> None:
    """Forget host ``name`` and its key passphrase; runs that trained there stay listed."""
    registry.remove(name)
    (secrets or SecretStore()).delete_host_passphrase(name)
