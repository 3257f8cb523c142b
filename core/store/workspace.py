"""One user's Datayard: settings, keyring and the embedded store, wired together.

Entry points (CLI, GUI, worker) build a :class:`Workspace` and ask it for a
usable profile; it starts the embedded store on demand for the ``local``
profile, creating that profile and its credentials on first use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from datayard.core import settings
from datayard.core.errors import SecretMissingError
from datayard.core.paths import AppDirs
from datayard.core.secrets import SecretStore
from datayard.core.settings import LOCAL_PROFILE, Profile, Settings
from datayard.core.store.embedded import (
    EmbeddedStore,
    StopOutcome,
    StoreStatus,
    local_profile,
    new_access_key,
    new_secret,
)

log = logging.getLogger(__name__)

LOOPBACK_ENDPOINT = "http://127.0.0.1"
"""Where the embedded store listens, whatever its port: this computer's loopback."""


@dataclass(frozen=True)
class Connection:
    """A profile together with its secret, ready for :func:`s3.make_client`."""

    profile: Profile
    secret: str


class Workspace:
    def __init__(self, dirs: AppDirs, secrets: SecretStore | None = None) -> None:
        self.dirs = dirs.ensure()
        self.secrets = secrets or SecretStore()
        self.store = EmbeddedStore.in_dirs(self.dirs)
        self._local_lock = FileLock(str(self.dirs.state / "local-profile.lock"))

    @classmethod
    def default(cls) -> Workspace:
        return cls(AppDirs.default())

    @property
    def settings_file(self) -> Path:
        return self.dirs.settings_file

    def settings(self) -> Settings:
        return settings.load(self.settings_file)

    def save(self, value: Settings) -> None:
        settings.save(value, self.settings_file)

    def connect(self, name: str | None = None) -> Connection:
        """The named (or default) profile with its secret, its store running."""
        profile = self._external_profile(name)
        if profile is None:
            return self.start_local()
        return Connection(profile, self.secrets.get(profile.name))

    def endpoint(self, name: str | None = None) -> str:
        """The store's address for the named (or default) profile, without starting it.

        The embedded store's is this computer's loopback, whatever port it gets:
        what a training host needs to know is that it cannot reach it.
        """
        profile = self._external_profile(name)
        return LOOPBACK_ENDPOINT if profile is None else profile.endpoint

    def _external_profile(self, name: str | None) -> Profile | None:
        """The named (or default) profile; ``None`` for the embedded store."""
        current = self.settings()
        name = name or current.default_profile
        if name == LOCAL_PROFILE and not any(p.name == name for p in current.profiles):
            return None
        profile = current.profile(name)
        return None if profile.embedded else profile

    def start_local(self) -> Connection:
        """Start (or reuse) the embedded store, creating its profile on first use.

        Two callers at once (the app connects while a resumed push does, or the
        CLI beside the app) would each make credentials on a first use, and the
        one that did not start the server would save credentials it does not
        know: the lock makes the second wait for the first one's profile.
        """
        with self._local_lock:
            return self._start_local()

    def _start_local(self) -> Connection:
        current = self.settings()
        existing = next((p for p in current.profiles if p.name == LOCAL_PROFILE), None)
        try:
            if existing is None or not existing.embedded:
                raise SecretMissingError("no local profile yet")
            access_key, secret = existing.access_key, self.secrets.get(LOCAL_PROFILE)
        except SecretMissingError:
            access_key, secret = new_access_key(), new_secret()
            self.secrets.set(LOCAL_PROFILE, secret)
            log.info("created credentials for the embedded store")
        status = self.store.start(access_key, secret)
        profile = local_profile(status.endpoint, access_key)
        if profile != existing:
            self.save(self.settings().with_profile(profile))
        return Connection(profile, secret)

    def stop_local(self) -> StopOutcome:
        return self.store.stop()

    def local_status(self) -> StoreStatus:
        return self.store.status()
