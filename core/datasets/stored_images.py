"""A stored version's images as the inspector's grid and viewer show them, fetched on demand.

The grid and the viewer take :class:`InspectedImage` items. A stored
version's items carry the paths of its manifest (``images/train/a.jpg``),
which name the file for people and find its blob. Nothing is fetched to list
them: a thumbnail's blob only when the grid asks for that thumbnail
(:class:`StoredThumbnails`), an image and its label only when it is opened
(:meth:`VersionImages.local`). Both go through a :class:`BlobCache`, and
thumbnails are cached by content, so a second look fetches nothing.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from datayard.core.datasets.blob_cache import BlobCache
from datayard.core.datasets.blobs import BlobMissingError
from datayard.core.datasets.manifest import Manifest, ManifestFile, Role, diff
from datayard.core.drive.inspection import ClassCount, InspectedImage, class_counts
from datayard.core.drive.thumbnails import Thumbnail, ThumbnailCache
from datayard.core.errors import DatayardError
from datayard.core.events import CancelToken


def label_path(image: str) -> str:
    """The label of ``images/<split>/a/b.jpg``, as push names it: ``labels/<split>/a/b.txt``."""
    _, split, inner = image.split("/", 2)
    return f"labels/{split}/{posixpath.splitext(inner)[0]}.txt"


def fetch_file(blobs: BlobCache, file: ManifestFile, cancel: CancelToken | None = None) -> Path:
    """The local copy of ``file``'s content; a missing blob is named by the file's path."""
    try:
        return blobs.fetch(file.sha256, file.size, cancel)
    except BlobMissingError as error:
        raise BlobMissingError(
            f"{file.path} is missing from the store (blob {file.sha256}); "
            "'datayard verify' lists every file a version lacks"
        ) from error


class VersionImages:
    """The images of one version, each with its label and its label's classes, and
    their counts as an inspection gives them (nothing checked them: no problems)."""

    with_problems = None
    """Nothing checked a stored version: a filter by problems does not apply."""

    def __init__(self, manifest: Manifest, blobs: BlobCache) -> None:
        self.manifest = manifest
        self.blobs = blobs
        self.files = {file.path: file for file in manifest.files}
        self.images = tuple(self._image(file) for file in manifest.files if file.role is Role.IMAGE)
        self.by_path = {image.path.as_posix(): image for image in self.images}
        """Each image by its path in the manifest."""
        self.labelled = sum(image.label is not None for image in self.images)
        self.classes: tuple[ClassCount, ...] = class_counts(self.images)
        """Objects and images per class name, most objects first."""

    def _image(self, file: ManifestFile) -> InspectedImage:
        label = self.files.get(label_path(file.path))
        return InspectedImage(
            path=Path(PurePosixPath(file.path)),
            label=None if label is None else Path(PurePosixPath(label.path)),
            class_names=self.manifest.class_names,
            split=file.split,
            class_ids=(label.class_ids or ()) if label else (),
        )

    def local(self, item: InspectedImage, cancel: CancelToken | None = None) -> InspectedImage:
        """``item`` with its image and label fetched: the files a viewer reads.

        Raises the store's errors (a missing blob names its file).
        """
        image = fetch_file(self.blobs, self.files[item.path.as_posix()], cancel)
        label = (
            None
            if item.label is None
            else fetch_file(self.blobs, self.files[item.label.as_posix()], cancel)
        )
        return replace(item, path=image, label=label)


class StoredThumbnails:
    """Thumbnails of stored files, named by their paths in ``files``, as
    :meth:`ThumbnailCache.get_all` gives those of local files.

    A path also in ``before`` (an older version's files) with other content
    there has the old picture beside the new (:meth:`ThumbnailCache.get_changed`).
    """

    def __init__(
        self,
        cache: ThumbnailCache,
        blobs: BlobCache,
        files: Mapping[str, ManifestFile],
        before: Mapping[str, ManifestFile] | None = None,
    ) -> None:
        self.cache = cache
        self.blobs = blobs
        self.files = files
        self.before: Mapping[str, ManifestFile] = before or {}
        self.failures: list[str] = []
        """Why a blob could not be fetched, one line per thumbnail: the store's problems,
        not images that cannot be decoded."""
        self._lock = threading.Lock()

    def get_all(
        self, sources: Sequence[Path], *, cancel: CancelToken | None = None
    ) -> Iterator[Thumbnail]:
        def fetcher(file: ManifestFile) -> Callable[[], Path]:
            def fetch() -> Path:
                try:
                    return fetch_file(self.blobs, file, cancel)
                except DatayardError as error:
                    with self._lock:
                        self.failures.append(str(error))
                    raise

            return fetch

        def get(source: Path) -> Thumbnail:
            file = self.files[source.as_posix()]
            old = self.before.get(source.as_posix())
            if old is not None and old.sha256 != file.sha256:
                return self.cache.get_changed(
                    source, (old.sha256, fetcher(old)), (file.sha256, fetcher(file))
                )
            return self.cache.get_stored(source, file.sha256, fetcher(file))

        return self.cache.get_all(sources, cancel=cancel, get=get)


@dataclass(frozen=True)
class ImageDiff:
    """Image paths that differ between two versions, each sorted."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    """In both, with other content or another label (changed, added or removed)."""


def image_diff(old: Manifest, new: Manifest) -> ImageDiff:
    """:func:`~datayard.core.datasets.manifest.diff` by image: a label's change is its image's."""
    added, removed, changed = diff(old, new)
    before = {f.path for f in old.files if f.role is Role.IMAGE}
    after = {f.path for f in new.files if f.role is Role.IMAGE}
    images_of: dict[str, set[str]] = {}
    for image in before & after:
        images_of.setdefault(label_path(image), set()).add(image)
    relabelled = {
        image for path in (*added, *removed, *changed) for image in images_of.get(path, ())
    }
    return ImageDiff(
        added=tuple(p for p in added if p in after),
        removed=tuple(p for p in removed if p in before),
        changed=tuple(sorted({p for p in changed if p in after} | relabelled)),
    )
