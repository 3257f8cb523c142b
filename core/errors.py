"""The project's own error types.

Every adapter translates its library's exceptions into one of these, with a
message a user can act on, chained with ``from`` so the cause stays visible in
debug logs. Entry points show ``str(error)`` and never a traceback.
"""

from __future__ import annotations

import reprlib

_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = 80
_QUOTE.maxlong = 40
_QUOTE.maxlist = _QUOTE.maxdict = 4


class DatayardError(Exception):
    """Base of every error a user may see; ``str()`` is the message to show."""

    exit_code = 1


class UsageError(DatayardError):
    """The user asked for something that cannot be done as asked."""

    exit_code = 2


class ConfigError(DatayardError):
    """Settings, profiles or the local environment are not usable as they are."""

    exit_code = 2


class ProfileFieldError(ConfigError):
    """One field of a storage profile is not valid; ``field`` names it for a form to point at."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class KeyringUnavailableError(ConfigError):
    """No secure credential store is reachable; secrets are never kept elsewhere."""


class SecretMissingError(ConfigError):
    """A profile has no secret in the keyring yet."""


class StorageError(DatayardError):
    """The object store refused or failed a request."""


class InvalidStoreObjectError(StorageError):
    """An object read from the store is not as Datayard writes it, so it is not used.

    A store is shared by people and machines we do not control: whatever an
    object holds is checked where it is parsed, and the message names the
    object's key and the field that is wrong::

        datasets/ada/cats/versions/X.json: files[3].sha256 is not 64 lowercase
        hexadecimal digits ('../../x')
    """

    def __init__(self, key: str, field: str, problem: str) -> None:
        self.key = key
        self.field = field
        self.problem = problem
        super().__init__(
            f"{printable(key)}: {field} {problem}" if field else f"{printable(key)} {problem}"
        )


class EndpointUnreachableError(StorageError):
    """Nothing answers at the profile's endpoint (DNS, refused, timeout)."""


class PreconditionFailedError(StorageError):
    """A conditional write or delete found the object changed: someone else wrote first."""


class StoreLockedError(StorageError):
    """Another operation holds the store (a gc, pushes): the command did not wait for it."""


class LockLostError(StorageError):
    """This process can no longer trust its lock on the store: it was not refreshed in time
    (a suspended machine, a store that stopped answering) or someone removed it."""


class AccessError(StorageError):
    """Credentials, bucket, permission or TLS: every request fails the same way.

    No retry fixes these, so an operation over many files stops at the first.
    """


class TLSError(AccessError):
    """The TLS handshake or certificate verification failed."""


class InvalidAccessKeyError(AccessError):
    """The server does not know the access key."""


class InvalidSecretError(AccessError):
    """The access key is known but the secret key does not match it."""


class BucketMissingError(AccessError):
    """The profile's bucket does not exist."""


class PermissionDeniedError(AccessError):
    """The credentials are valid but may not do what was asked."""


class EmbeddedStoreError(DatayardError):
    """The embedded object store could not be started, found or stopped."""


class HostError(DatayardError):
    """A training host could not be reached, logged in to, or used."""


class HostConnectionError(HostError):
    """The host is unreachable (name, port, network) or the connection to it was lost."""


class HostKeyUnknownError(HostError):
    """The host presents a key the user has not accepted: they must compare and accept it."""

    def __init__(self, message: str, *, fingerprint: str, known_hosts_line: str) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint
        self.known_hosts_line = known_hosts_line


class HostKeyChangedError(HostError):
    """The host presents another key than the one the user accepted: refused, as ssh does."""


class HostAuthenticationError(HostError):
    """The host refused every key that was tried."""


class HostPassphraseError(HostAuthenticationError):
    """The user's key needs its passphrase (``needed``), or the one given is wrong."""

    def __init__(self, message: str, *, needed: bool = False) -> None:
        super().__init__(message)
        self.needed = needed


def quoted(value: object) -> str:
    """``value`` for a message: escaped and shortened, so that a hostile string (a NUL, an
    escape sequence, a newline, a megabyte of text) cannot mangle a terminal or a log."""
    return _QUOTE.repr(value)


def printable(text: str) -> str:
    """``text`` as it is when it is safe to print on one line, else quoted (see :func:`quoted`)."""
    return text if text.isprintable() and len(text) <= 200 else quoted(text)


class ClusterError(DatayardError):
    """A Kubernetes cluster could not be used: ``message`` says what happened, ``hint`` what
    to do about it (``cluster test`` shows them on two lines, other commands on one)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.message = message
        self.hint = hint


class ClusterConfigError(ClusterError):
    """No kubeconfig, or it lacks the context named, or its credentials cannot be loaded."""

    exit_code = 2


class ClusterUnreachableError(ClusterError):
    """Nothing answers at the API server's address (refused, DNS, timeout, TLS)."""


class ClusterCredentialsError(ClusterError):
    """The API server does not accept the credentials (401): expired or revoked."""


class ClusterForbiddenError(ClusterError):
    """The user may not do what was asked (403); the message names the verb and resource."""


class ClusterQuotaError(ClusterForbiddenError):
    """The namespace's resource quota leaves no room for the run."""


class NamespaceMissingError(ClusterError):
    """The cluster has no such namespace (404)."""
