"""Where Datayard keeps its local state, per platform conventions.

platformdirs honours the XDG variables on Linux, which is also how the tests
point every folder at a temporary directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "datayard"


@dataclass(frozen=True)
class AppDirs:
    """The folders of one installation; created on first use."""

    config: Path
    data: Path
    cache: Path
    state: Path
    log: Path

    @classmethod
    def default(cls) -> AppDirs:
        dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
        return cls(
            config=Path(dirs.user_config_dir),
            data=Path(dirs.user_data_dir),
            cache=Path(dirs.user_cache_dir),
            state=Path(dirs.user_state_dir),
            log=Path(dirs.user_log_dir),
        )

    def ensure(self) -> AppDirs:
        """Create the folders, private to the user, and return self."""
        for folder in (self.config, self.data, self.cache, self.state, self.log):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.toml"

    @property
    def database(self) -> Path:
        return self.state / "datayard.sqlite3"

    @property
    def thumbnails(self) -> Path:
        """Shared by the inspector's grid and the exported reports: an image is decoded once."""
        return self.cache / "thumbnails"

    @property
    def blobs(self) -> Path:
        """Stored versions' files fetched to be looked at (see core.datasets.blob_cache)."""
        return self.cache / "blobs"
