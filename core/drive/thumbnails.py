"""Small previews of images, made once and kept on the local disk.

A thumbnail is keyed by the image's path, size and modification time, so an
edited image gets a new one and an unchanged one is never decoded twice, even
across restarts. A file of a stored version is keyed by its sha256 instead
(:meth:`ThumbnailCache.get_stored`): its content never changes, so its
thumbnail never goes stale, and a hit needs nothing from the store. An image
that cannot be decoded is remembered as broken (a small marker file) for the
same reason: a broken 50 MB TIFF on a slow share must not be read again on
every scroll.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from datayard.core.atomic import write_atomically
from datayard.core.drive.decoding import UndecodableImageError, decode
from datayard.core.errors import DatayardError
from datayard.core.events import CancelToken, check_cancel
from datayard.core.pool import helper_pool

log = logging.getLogger(__name__)

THUMBNAIL_PX = 128
_WORKERS = 4
_BROKEN = ".broken"
_MODE = 0o600
"""Cache files are readable by the user only: they show images others may not be allowed to see."""


@dataclass(frozen=True)
class Thumbnail:
    source: Path
    file: Path | None
    """The cached JPEG; ``None`` when the image is broken."""
    error: str | None = None
    """Why there is no thumbnail, in words for the user."""
    cached: bool = False
    """Read from the cache (no decode) rather than made now."""


class ThumbnailCache:
    """Thumbnails under ``folder``, each at most ``size`` pixels on its longer side."""

    def __init__(self, folder: Path, size: int = THUMBNAIL_PX) -> None:
        self.folder = folder
        self.size = size

    def _key(self, source: Path) -> str | None:
        try:
            info = source.stat()
        except OSError:
            return None
        identity = f"{os.path.abspath(source)}\0{info.st_size}\0{info.st_mtime_ns}\0{self.size}"
        return hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()

    def get(self, source: Path) -> Thumbnail:
        """The thumbnail of ``source``, from the cache or made now; never raises."""
        key = self._key(source)
        if key is None:
            return Thumbnail(source, None, "the file cannot be read any more")
        return self._get(source, key, lambda: source)

    def get_stored(self, source: Path, sha256: str, fetch: Callable[[], Path]) -> Thumbnail:
        """The thumbnail of a stored file named ``source``, whose content is ``sha256``;
        ``fetch`` brings that content to a local file, and is called on a miss only.

        A :class:`DatayardError` of ``fetch`` (a store away, a blob missing) is
        the thumbnail's error but is not remembered as broken: it may pass.
        Never raises otherwise.
        """
        identity = f"sha256:{sha256}\0{self.size}"
        return self._get(source, hashlib.sha256(identity.encode()).hexdigest(), fetch)

    def _get(self, source: Path, key: str, fetch: Callable[[], Path]) -> Thumbnail:
        target = self.folder / key[:2] / f"{key}.jpg"
        broken = target.with_suffix(_BROKEN)
        if target.is_file():
            return Thumbnail(source, target, cached=True)
        if broken.is_file():
            return Thumbnail(source, None, broken.read_text("utf-8", "replace"), cached=True)
        try:
            local = fetch()
        except DatayardError as failure:
            return Thumbnail(source, None, str(failure))
        error: str | None = None
        try:
            error = _make(local, target, self.size)
            if error is None:
                return Thumbnail(source, target)
            write_atomically(broken, error.encode("utf-8"), mode=_MODE)
        except OSError as failure:
            log.warning("cannot write to the thumbnail cache %s: %s", self.folder, failure)
            error = error or f"the thumbnail cache cannot be written ({failure.strerror})"
        return Thumbnail(source, None, error)

    def get_all(
        self,
        sources: Sequence[Path],
        *,
        cancel: CancelToken | None = None,
        get: Callable[[Path], Thumbnail] | None = None,
    ) -> Iterator[Thumbnail]:
        """Thumbnails in parallel, each as soon as it is ready; stops when cancelled.

        ``get`` makes one (:meth:`get` by default; a stored version's fetches its blob).
        """
        with helper_pool(_WORKERS, "datayard-thumbnail") as pool:
            pending: list[Future[Thumbnail]] = [
                pool.submit(get or self.get, path) for path in sources
            ]
            try:
                for future in pending:
                    check_cancel(cancel)
                    yield future.result()
            finally:
                for future in pending:
                    future.cancel()


def _make(source: Path, target: Path, size: int) -> str | None:
    """Write the thumbnail; return why it could not be made, or ``None``."""
    try:
        picture = decode(source, size)
    except UndecodableImageError as error:
        return str(error)
    write_atomically(
        target, _encode(picture), mode=_MODE
    )  # a reader in another thread sees all or none
    return None


def _encode(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()
