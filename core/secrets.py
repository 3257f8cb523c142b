"""Secret keys in the OS keyring, and nowhere else.

A missing or insecure keyring is an error with instructions, never a silent
fallback: a plaintext "keyring" would put secrets in a file on a shared drive's
client machine, which is exactly what Datayard promises not to do.
"""

from __future__ import annotations

import logging
import sys

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import chainer, fail

from datayard.core.errors import KeyringUnavailableError, SecretMissingError

log = logging.getLogger(__name__)

SERVICE = "datayard"

_INSECURE_MODULES = ("keyrings.alt",)


def _how_to_fix() -> str:
    if sys.platform.startswith("linux"):
        return (
            "Datayard keeps secret keys in the Secret Service (GNOME Keyring or KWallet). "
            "Install one ('sudo apt-get install gnome-keyring') and use Datayard from a "
            "desktop session where it is unlocked; on a headless machine run it inside "
            "'dbus-run-session' after 'gnome-keyring-daemon --unlock --daemonize "
            "--components=secrets' (the password on stdin, XDG_RUNTIME_DIR set)."
        )
    return "Datayard keeps secret keys in the system keychain; make sure it is available."


def _usable(backend: keyring.backend.KeyringBackend) -> bool:
    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(_usable(inner) for inner in backend.backends)
    return not type(backend).__module__.startswith(_INSECURE_MODULES)


class SecretStore:
    """Reads and writes the secret key of each storage profile, and SSH key passphrases."""

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> keyring.backend.KeyringBackend:
        backend = self._backend or keyring.get_keyring()
        if not _usable(backend):
            raise KeyringUnavailableError(
                f"no secure keyring is available (found {type(backend).__name__}). " + _how_to_fix()
            )
        return backend

    def describe(self) -> str:
        backend = self.backend
        return f"{type(backend).__module__}.{type(backend).__name__}"

    def get(self, profile: str) -> str:
        secret = self._read(_username(profile))
        if secret is None:
            raise SecretMissingError(
                f"profile {profile!r} has no secret key in the keyring; "
                f"set it with 'datayard profile add {profile} ...' or in Settings"
            )
        return secret

    def set(self, profile: str, secret: str) -> None:
        if not secret:
            raise SecretMissingError(f"the secret key for profile {profile!r} is empty")
        self._write(_username(profile), secret)
        log.info("stored the secret key of profile %r in the keyring", profile)

    def delete(self, profile: str) -> None:
        """Forget the profile's secret; forgetting a secret that is not there is fine."""
        self._forget(_username(profile))

    def host_passphrase(self, host: str) -> str | None:
        """The passphrase of the SSH key that logs in to ``host``, when the user gave one."""
        return self._read(f"host:{host}")

    def set_host_passphrase(self, host: str, passphrase: str) -> None:
        self._write(f"host:{host}", passphrase)
        log.info("stored the SSH key passphrase for host %r in the keyring", host)

    def delete_host_passphrase(self, host: str) -> None:
        self._forget(f"host:{host}")

    def _read(self, name: str) -> str | None:
        try:
            secret: str | None = self.backend.get_password(SERVICE, name)
        except keyring.errors.KeyringError as error:
            raise _unavailable(error) from error
        return secret

    def _write(self, name: str, secret: str) -> None:
        try:
            self.backend.set_password(SERVICE, name, secret)
        except keyring.errors.KeyringError as error:
            raise _unavailable(error) from error

    def _forget(self, name: str) -> None:
        try:
            self.backend.delete_password(SERVICE, name)
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.KeyringError as error:
            raise _unavailable(error) from error


def _username(profile: str) -> str:
    return f"profile:{profile}"


def _unavailable(error: Exception) -> KeyringUnavailableError:
    # The backend's message may name a D-Bus path or "Prompt dismissed" (locked
    # keyring); it never contains the secret itself.
    return KeyringUnavailableError(f"the keyring refused the request ({error}). {_how_to_fix()}")
