"""The project's own error types.

Every adapter translates its library's exceptions into one of these, with a
message a user can act on, chained with ``from`` so the cause stays visible in
debug logs. Entry points show ``str(error)`` and never a traceback.
"""

from __future__ import annotations


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
