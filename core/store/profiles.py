"""Changing settings as the desktop app's forms do: check, test and save profiles.

The forms hold the user's edits; these functions decide what is valid and in
which order things are written, so that a refused keyring never leaves a
profile on disk whose secret went nowhere (or anywhere else).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import replace

from datayard.core.errors import ProfileFieldError
from datayard.core.events import Cancelled, CancelToken, Finished, Progress
from datayard.core.settings import LOCAL_PROFILE, Profile, Settings
from datayard.core.store import s3
from datayard.core.store.workspace import Connection, Workspace

PHASE_STARTING_LOCAL = "starting the built-in store"


def profile_problem(
    profile: Profile, *, taken: Collection[str], secret: str, secret_stored: bool
) -> ProfileFieldError | None:
    """What keeps ``profile`` from being saved, naming the field; ``None`` when nothing does.

    ``taken`` are the other profiles' names; ``secret_stored`` says whether the
    keyring already holds a secret for it (an empty field then keeps that one).
    """
    if profile.name == LOCAL_PROFILE:
        return ProfileFieldError(
            "name", f"{LOCAL_PROFILE!r} is the name of the built-in store; choose another name"
        )
    if profile.name in taken:
        return ProfileFieldError("name", f"there is already a profile named {profile.name!r}")
    try:
        profile.validated()
    except ProfileFieldError as error:
        return error
    if not secret and not secret_stored:
        return ProfileFieldError(
            "secret", f"profile {profile.name!r}: enter the secret key (kept in the keyring)"
        )
    return None


def save_settings(
    workspace: Workspace, settings: Settings, secrets: Mapping[str, str], removed: Iterable[str]
) -> None:
    """Store the new secrets in the keyring, then the settings, then forget removed secrets.

    Secrets go first: when the keyring refuses, the error stops everything and
    no settings file names a profile without its secret.
    """
    for name, secret in secrets.items():
        workspace.secrets.set(name, secret)
    workspace.save(settings)
    kept = {profile.name for profile in settings.profiles}
    for name in removed:
        if name not in kept:
            workspace.secrets.delete(name)


def check_store(workspace: Workspace, profile: Profile, secret: str) -> None:
    """Test a profile as entered; an empty ``secret`` means the one in the keyring."""
    s3.check_profile(profile.validated(), secret or workspace.secrets.get(profile.name))


def create_store_bucket(workspace: Workspace, profile: Profile, secret: str) -> None:
    """Create the profile's bucket, then prove it can be read and written."""
    profile = profile.validated()
    secret = secret or workspace.secrets.get(profile.name)
    s3.create_bucket(profile, secret)
    s3.check_profile(profile, secret)


def with_own_folder(settings: Settings, folder: str) -> Settings:
    """The user's own shared-drive folder goes first; it is where browsing starts."""
    return replace(settings, roots=(folder, *(r for r in settings.roots if r != folder)))


def start_with_local_store(
    workspace: Workspace, owner: str, folder: str, cancel: CancelToken | None = None
) -> Iterator[Progress | Finished[Connection]]:
    """First start: run the embedded store and make it the default, with the user's choices.

    Cancelled while the store starts, it stops the store again and saves no choice.
    """
    yield Progress(PHASE_STARTING_LOCAL, 0)
    connection = workspace.start_local()
    if cancel is not None and cancel.is_set():
        workspace.stop_local()
        raise Cancelled
    current = replace(workspace.settings(), owner=owner, default_profile=LOCAL_PROFILE)
    workspace.save(with_own_folder(current, folder) if folder else current)
    yield Finished(connection)
