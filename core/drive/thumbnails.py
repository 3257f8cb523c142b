"""Small previews of images, made once and kept on the local disk.

A thumbnail is keyed by the image's path, size and modification time, so an
edited image gets a new one and an unchanged one is never decoded twice, even
across restarts. A file of a stored version is keyed by its sha256 instead
(:meth:`ThumbnailCache.get_stored`): its content never changes, so its
thumbnail never goes stale, and a hit needs nothing from the store. So is a
file whose content changed between two versions, the old picture beside the
new in one thumbnail (:meth:`ThumbnailCache.get_changed`). An image
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
GAP_PX = 4
"""Between the old picture and the new in a thumbnail of a changed file."""
_GAP_COLOUR = (255, 255, 255)
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

    def get_changed(
        self,
        source: Path,
        old: tuple[str, Callable[[], Path]],
        new: tuple[str, Callable[[], Path]],
    ) -> Thumbnail:
        """One thumbnail of a stored file whose content changed, ``old`` and ``new``
        (each its sha256 and what fetches it, as for :meth:`get_stored`): the old
        picture on the left, the new on the right, each in half the width.

        Each side's thumbnail is kept too (a browse of either version reuses
        it); a side that cannot be shown is the thumbnail's error, not remembered
        as broken here (its own is, if it cannot be decoded). Never raises.
        """
        identity = f"changed:{old[0]}\0{new[0]}\0{self.size}"
        key = hashlib.sha256(identity.encode()).hexdigest()
        target = self.folder / key[:2] / f"{key}.jpg"
        if target.is_file():
            return Thumbnail(source, target, cached=True)
        sides = [self.get_stored(source, sha256, fetch) for sha256, fetch in (old, new)]
        for side, which in zip(sides, ("old", "new"), strict=True):
            if side.file is None:
                return Thumbnail(source, None, f"the {which} image: {side.error}")
        try:
            pictures: list[Image.Image] = []
            for side in sides:
                with Image.open(str(side.file)) as picture:
                    pictures.append(picture.convert("RGB"))
            write_atomically(target, _encode(_side_by_side(pictures, self.size)), mode=_MODE)
        except OSError as failure:  # PIL's "cannot identify" too
            log.warning("cannot write to the thumbnail cache %s: %s", self.folder, failure)
            return Thumbnail(source, None, f"the thumbnail cannot be made ({failure})")
        return Thumbnail(source, target)

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


def _side_by_side(pictures: Sequence[Image.Image], size: int) -> Image.Image:
    """The pictures in a row, each fitted in its share of ``size`` pixels, with
    :data:`GAP_PX` between them, centred on the height of the tallest as it was (a
    thumbnail alone): in a grid, the name under it is where its neighbours' are."""
    width = (size - GAP_PX * (len(pictures) - 1)) // len(pictures)
    fitted = []
    for picture in pictures:
        copy = picture.copy()
        copy.thumbnail((width, size))
        fitted.append(copy)
    row = Image.new("RGB", (size, max(picture.height for picture in pictures)), _GAP_COLOUR)
    for index, picture in enumerate(fitted):
        left = index * (width + GAP_PX) + (width - picture.width) // 2
        row.paste(picture, (left, (row.height - picture.height) // 2))
    return row


def _encode(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()
