"""User settings: who the user is, where their shared drive is, which stores they use.

Kept in a TOML file in the platformdirs config folder, readable and editable by
hand. Secret keys are deliberately absent from these types: they live only in
the OS keyring (see :mod:`datayard.core.secrets`).
"""

from __future__ import annotations

import getpass
import re
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import tomli_w

from datayard.core.atomic import write_atomically
from datayard.core.errors import ConfigError, ProfileFieldError

LOCAL_PROFILE = "local"
DEFAULT_BUCKET = "datayard"

UNSAVED_FIELDS = ("tls_hostname",)
"""Profile fields that only a profile made at run time has: not in the settings file."""

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# S3 bucket naming rules (lowercase, 3-63 chars, no leading/trailing dot or dash).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Profile:
    """How to reach one S3-compatible store (MinIO, SeaweedFS, AWS...)."""

    name: str
    endpoint: str
    bucket: str
    access_key: str
    region: str = ""
    verify_tls: bool = True
    ca_bundle: str = ""
    embedded: bool = False
    """The profile of the store Datayard runs itself (started on demand)."""
    tls_hostname: str = ""
    """The name the store's TLS certificate is checked for (and asked for) when the
    endpoint is another address that leads to the store, as a tunnel's loopback port
    is; the endpoint's own host when empty. Made with such an endpoint, never saved:
    see :data:`UNSAVED_FIELDS`."""

    @property
    def secure(self) -> bool:
        return urlsplit(self.endpoint).scheme == "https"

    @property
    def host(self) -> str:
        """``host:port`` as the minio client wants it."""
        return urlsplit(self.endpoint).netloc

    def validated(self) -> Profile:
        """Return self, or raise a ProfileFieldError that names the bad field."""
        if not _PROFILE_NAME.match(self.name):
            raise ProfileFieldError(
                "name",
                f"profile name {self.name!r} is not valid: use letters, digits, '.', '_' or '-'",
            )
        parts = _url_parts(self.endpoint)
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProfileFieldError(
                "endpoint",
                f"profile {self.name!r}: endpoint {self.endpoint!r} is not a URL like "
                "https://minio.example.com:9000",
            )
        if parts.path not in ("", "/") or parts.query:
            raise ProfileFieldError(
                "endpoint",
                f"profile {self.name!r}: the endpoint must not have a path ({self.endpoint!r}); "
                "put the bucket name in the bucket field",
            )
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ProfileFieldError(
                "endpoint", f"profile {self.name!r}: endpoint {self.endpoint!r} has an invalid port"
            ) from None
        if not _BUCKET_NAME.match(self.bucket) or ".." in self.bucket:
            raise ProfileFieldError(
                "bucket",
                f"profile {self.name!r}: bucket {self.bucket!r} is not a valid S3 bucket name "
                "(3-63 lowercase letters, digits, '.' or '-')",
            )
        if not self.access_key.strip():
            raise ProfileFieldError("access_key", f"profile {self.name!r}: the access key is empty")
        if self.ca_bundle and not Path(self.ca_bundle).expanduser().is_file():
            raise ProfileFieldError(
                "ca_bundle",
                f"profile {self.name!r}: CA bundle {self.ca_bundle!r} is not a readable file",
            )
        return replace(self, endpoint=self.endpoint.rstrip("/"))


def _url_parts(url: str) -> SplitResult | None:
    """The parts of ``url``, or ``None`` where it cannot be split (``http://[::1``)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


@dataclass(frozen=True)
class Settings:
    owner: str = field(default_factory=getpass.getuser)
    """Name under which this user's datasets are stored (datasets/<owner>/...)."""
    roots: tuple[str, ...] = ()
    """Shared-drive folders to browse, the user's own folder first."""
    profiles: tuple[Profile, ...] = ()
    default_profile: str = LOCAL_PROFILE

    def profile(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in self.profiles) or "none"
        raise ConfigError(
            f"there is no profile {name!r} (known: {known}); add one with 'datayard profile add'"
        )

    def with_profile(self, profile: Profile) -> Settings:
        """A copy with ``profile`` added, or replacing the one of the same name."""
        others = tuple(p for p in self.profiles if p.name != profile.name)
        return replace(self, profiles=(*others, profile.validated()))

    def without_profile(self, name: str) -> Settings:
        self.profile(name)
        return replace(self, profiles=tuple(p for p in self.profiles if p.name != name))


def load(path: Path) -> Settings:
    """Read the settings file; a missing file means defaults (first start)."""
    data = read_toml(path, f"the settings file {path}")
    return Settings() if data is None else _from_dict(data, path)


def read_toml(path: Path, described: str) -> dict[str, Any] | None:
    """The TOML document of a configuration file, None when it does not exist; a file that
    cannot be read or parsed is a :class:`ConfigError` naming it as ``described``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(f"cannot read {described}: {error.strerror}") from error
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{described} is not valid TOML: {error}") from error


def save(settings: Settings, path: Path) -> None:
    """Write atomically, so a crash never leaves a half-written settings file.

    A new file is readable by its owner only: it names the stores and access keys.
    """
    write_atomically(path, tomli_w.dumps(_to_dict(settings)).encode("utf-8"), mode=0o600)


def _to_dict(settings: Settings) -> dict[str, Any]:
    return {
        "owner": settings.owner,
        "roots": list(settings.roots),
        "default_profile": settings.default_profile,
        "profiles": {
            p.name: {k: v for k, v in asdict(p).items() if k not in ("name", *UNSAVED_FIELDS)}
            for p in settings.profiles
        },
    }


def _from_dict(data: dict[str, Any], path: Path) -> Settings:
    def bad(what: str) -> ConfigError:
        return ConfigError(f"the settings file {path}: {what}")

    defaults = Settings()
    owner = data.get("owner", defaults.owner)
    roots = data.get("roots", [])
    default_profile = data.get("default_profile", LOCAL_PROFILE)
    if not isinstance(owner, str) or not owner.strip():
        raise bad("'owner' must be a non-empty string")
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise bad("'roots' must be a list of folder paths")
    if not isinstance(default_profile, str):
        raise bad("'default_profile' must be a profile name")
    raw_profiles = data.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise bad("'profiles' must be a table of [profiles.NAME] sections")
    known = set(Profile.__dataclass_fields__) - {"name", *UNSAVED_FIELDS}
    profiles = []
    for name, fields in raw_profiles.items():
        if not isinstance(fields, dict):
            raise bad(f"[profiles.{name}] must be a table")
        unknown = set(fields) - known
        if unknown:
            raise bad(f"[profiles.{name}] has unknown keys: {', '.join(sorted(unknown))}")
        try:
            profile = Profile(name=name, **fields)
        except TypeError as error:
            raise bad(f"[profiles.{name}] is incomplete: {error}") from error
        profiles.append(profile.validated())
    return Settings(
        owner=owner.strip(),
        roots=tuple(roots),
        profiles=tuple(profiles),
        default_profile=default_profile,
    )
