"""What a selection of folders and files on the share holds, for a browser and an inspector.

One operation scans (without hashing images: a browse must be quick) and
checks each selected folder, and reduces the inventory and report to what a
front end shows: per-folder badges, the images with their labels and class
names, a class histogram, image sizes, and the findings grouped by problem.

A selected file is inspected within its set: the folder above its
``images/`` folder when it has one (where the labels and data.yaml are),
else its own folder; the result is then narrowed to the selected files.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from PIL import Image

from datayard.core.drive.check import (
    CheckReport,
    Finding,
    FindingKind,
    SetSummary,
    Severity,
    check,
)
from datayard.core.drive.decoding import open_image
from datayard.core.drive.inventory import FileKind, Inventory, SetItem
from datayard.core.drive.scan import scan
from datayard.core.drive.scan.summary import class_name
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken, Finished, Progress, Throttle, check_cancel
from datayard.core.pool import helper_pool
from datayard.core.stepwise import release_stepwise, sorted_stepwise

PHASE_MEASURING = "measuring images"
_MEASURE_WORKERS = 8
_MEASURE_CHUNK = 64
_SIZE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


@dataclass(frozen=True)
class FolderSummary:
    """A folder at a glance: the badges of a browser."""

    folder: Path
    mtime_ns: int
    """The folder's modification time when it was scanned: a later one means stale."""
    images: int
    labelled: int
    layouts: tuple[str, ...]
    """The dataset layouts found, the one with most images first."""
    counts: dict[Severity, int]

    @property
    def labelled_share(self) -> float:
        return self.labelled / self.images if self.images else 0.0

    @property
    def badges(self) -> tuple[Badge, ...]:
        """Most important first: images, labelled share, layout, then problems."""
        badges = [Badge(_plural(self.images, "image"))]
        if self.images:
            badges.append(Badge(f"{self.labelled_share:.0%} labelled"))
        badges += [Badge(layout) for layout in self.layouts[:1]]
        for severity in (Severity.ERROR, Severity.WARNING):
            if self.counts[severity]:
                badges.append(Badge(_plural(self.counts[severity], str(severity)), severity))
        if self.images and not badges[-1].severity:
            badges.append(Badge("no problem"))
        return tuple(badges)

    def describe(self) -> str:
        """The badges as one sentence, for a tooltip or a screen reader."""
        return ", ".join(badge.text for badge in self.badges)


@dataclass(frozen=True)
class Badge:
    text: str
    severity: Severity | None = None


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'s' * (count != 1)}"


@dataclass(frozen=True)
class FolderChecked:
    """One folder of the selection is scanned and checked: its badges can be drawn."""

    summary: FolderSummary


@dataclass(frozen=True)
class InspectedImage:
    path: Path
    label: Path | None
    class_names: tuple[str, ...]
    """The names of the image's set (data.yaml or classes.txt); may be empty."""
    split: str = ""
    """``train``, ``val``, ``test``, or ``""`` when its set has no splits."""
    class_ids: tuple[int, ...] = ()
    """The class of each object of its label, as the scan read them: what a filter
    by class looks at, without reading the label again."""
    severity: Severity | None = None
    """The most serious finding about the image or its label (a copy of a duplicate
    included); ``None`` when the check found nothing."""

    @property
    def has_problems(self) -> bool:
        """An error or a warning is about it: notes (an unlabelled image) are not problems."""
        return self.severity is Severity.ERROR or self.severity is Severity.WARNING


@dataclass(frozen=True)
class ClassCount:
    name: str
    objects: int
    images: int


def class_counts(images: Iterable[InspectedImage]) -> tuple[ClassCount, ...]:
    """Objects and images per class name, most objects first (an id beyond its set's
    names is named by the number)."""
    objects: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    for image in images:
        found = [class_name(image.class_names, class_id) for class_id in image.class_ids]
        objects.update(found)
        counted.update(set(found))
    return tuple(ClassCount(name, count, counted[name]) for name, count in objects.most_common())


@dataclass(frozen=True)
class ProblemRow:
    path: Path
    detail: str
    line: int | None = None
    related: bool = False
    """Another file of the same finding (a copy of a duplicate): not counted again."""


@dataclass(frozen=True)
class ProblemGroup:
    kind: FindingKind
    rows: tuple[ProblemRow, ...]

    @property
    def heading(self) -> str:
        return self.kind.heading

    @property
    def hint(self) -> str:
        return self.kind.hint

    @property
    def severity(self) -> Severity:
        return self.kind.severity


@dataclass(frozen=True)
class Inspection:
    paths: tuple[Path, ...]
    images: tuple[InspectedImage, ...]
    classes: tuple[ClassCount, ...]
    """Objects and images per class name, most objects first."""
    problems: tuple[ProblemGroup, ...]
    """Errors first, as the check sorts them."""
    sizes: tuple[tuple[int, int], ...]
    """Width and height of every image whose header could be read."""
    folders: tuple[FolderSummary, ...]
    report: CheckReport
    """The checks of the selection as one report, for an export: paths relative to the
    folder that holds every scanned one, findings narrowed to the selected files."""

    @cached_property
    def labelled(self) -> int:
        return sum(image.label is not None for image in self.images)

    @cached_property
    def with_problems(self) -> int:
        return sum(image.has_problems for image in self.images)

    @cached_property
    def counts(self) -> dict[Severity, int]:
        counted = Counter(
            group.severity for group in self.problems for row in group.rows if not row.related
        )
        return {severity: counted[severity] for severity in Severity}


InspectEvent = Progress | FolderChecked | Finished[Inspection]


def inspect(
    paths: Sequence[Path],
    *,
    database: Path | None = None,
    measure: bool = True,
    cancel: CancelToken | None = None,
) -> Iterator[InspectEvent]:
    """Scan and check what ``paths`` name; ``measure`` also reads every image's size.

    Yields the scan's and the check's ``Progress``, a :class:`FolderChecked`
    for each whole folder, and ends with ``Finished(inspection)``. Raises
    :class:`~datayard.core.errors.UsageError` when a path does not exist.
    """
    parts: list[_Part] = []
    for scope, only in _scopes(paths).items():
        parts.append((yield from _inspect_part(scope, only, database, cancel)))
        if only is None:
            yield FolderChecked(parts[-1].summary)
    images = [image for part in parts for image in part.images()]
    sizes: list[tuple[int, int]] = []
    if measure:
        sizes = yield from _measure([image.path for image in images], cancel)
    inspection = Inspection(
        paths=tuple(paths),
        images=tuple(images),
        classes=class_counts(images),
        problems=_problems(parts),
        sizes=tuple(sizes),
        folders=tuple(part.summary for part in parts if part.only is None),
        report=_report(parts),
    )
    # Counted here, not by a UI thread that shows them.
    _ = inspection.labelled, inspection.with_problems, inspection.counts
    yield Finished(inspection)
    _release(parts)


def _scopes(paths: Sequence[Path]) -> dict[Path, set[str] | None]:
    """The folders to scan, each with the files to keep (``None``: all of it)."""
    absolute = sorted({Path(os.path.abspath(path)) for path in paths})
    for path in absolute:
        if not path.exists():
            raise UsageError(f"{path} does not exist: it was moved or deleted; refresh the browser")
    folders = [path for path in absolute if path.is_dir()]
    scopes: dict[Path, set[str] | None] = {}
    for folder in folders:
        if not any(other in folder.parents for other in folders):
            scopes[folder] = None
    for file in absolute:
        if file in folders or any(folder in file.parents for folder in scopes):
            continue
        scope = _set_folder(file)
        kept = scopes.setdefault(scope, set())
        if kept is not None:
            kept.add(file.relative_to(scope).as_posix())
    return scopes


def _set_folder(file: Path) -> Path:
    """Where a file's set starts: above its last ``images`` folder, else its folder."""
    for folder in file.parents:
        if folder.name == "images":
            return folder.parent
    return file.parent


def _inspect_part(
    scope: Path, only: set[str] | None, database: Path | None, cancel: CancelToken | None
) -> Generator[Progress, None, _Part]:
    mtime_ns = _mtime_ns(scope)  # before the scan: a change during it makes it stale
    inventory, report = yield from _scan_and_check(scope, database, cancel)
    return _Part(inventory, report, only, mtime_ns)


def _release(parts: list[_Part]) -> None:
    """Free the scans and checks a slice at a time: dropped whole, the 100,000 entries,
    items and findings of a big folder go in one cascade, while a caller's UI thread
    waits for the GIL. Only ``parts`` may hold them."""
    garbage = [leaf for part in parts for leaf in part.leaves()]
    parts.clear()  # the containers go; what they held is kept by ``garbage`` alone
    release_stepwise(garbage)


def _scan_and_check(
    folder: Path, database: Path | None, cancel: CancelToken | None
) -> Generator[Progress, None, tuple[Inventory, CheckReport]]:
    inventory: Inventory | None = None
    for event in scan(folder, database=database, hash_files=False, cancel=cancel):
        if isinstance(event, Finished):
            inventory = event.result
        else:
            yield event
    assert inventory is not None
    report: CheckReport | None = None
    for checked in check(inventory, cancel=cancel, database=database, similar=True):
        if isinstance(checked, Finished):
            report = checked.result
        else:
            yield checked
    assert report is not None
    return inventory, report


@dataclass(frozen=True)
class _Part:
    inventory: Inventory
    report: CheckReport
    only: set[str] | None
    mtime_ns: int

    def keeps(self, rel: str) -> bool:
        return self.only is None or rel in self.only

    def items(self) -> Iterator[tuple[SetItem, tuple[str, ...]]]:
        for dataset in self.inventory.sets:
            for item in dataset.items:
                if self.keeps(item.image):
                    yield item, dataset.class_names

    def images(self) -> Iterator[InspectedImage]:
        root = self.inventory.root
        ids_of, worst = self.class_ids_of, self._worst
        for item, names in self.items():
            label = root / item.label if item.label else None
            ids = (ids_of.get(item.label) if item.label else None) or ()
            found = [worst[rel] for rel in (item.image, item.label) if rel in worst]
            severity = min(found, key=lambda severity: severity.rank, default=None)
            yield InspectedImage(root / item.image, label, names, item.split, ids, severity)

    @cached_property
    def class_ids_of(self) -> dict[str, tuple[int, ...] | None]:
        """Each label file's class ids, as the scan read them."""
        return {entry.rel: entry.class_ids for entry in self.inventory.of_kind(FileKind.LABEL)}

    @cached_property
    def _worst(self) -> dict[str, Severity]:
        """The most serious finding about each file it names."""
        worst: dict[str, Severity] = {}
        for finding in self.report.findings:
            for rel in (finding.path, *finding.related):
                known = worst.get(rel)
                if known is None or finding.severity.rank < known.rank:
                    worst[rel] = finding.severity
        return worst

    def leaves(self) -> Iterator[object]:
        """The objects of the scan and the check there is one of per file."""
        yield from self.inventory.files
        for dataset in self.inventory.sets:
            yield from dataset.items
        yield from self.report.findings

    @cached_property
    def _kept(self) -> frozenset[str]:
        labels = {item.label for item, _ in self.items() if item.label}
        return frozenset(self.only or ()) | labels

    def relevant(self, paths: Iterable[str]) -> bool:
        """A finding concerns a file selection when it names a kept image or its label."""
        return self.only is None or any(path in self._kept for path in paths)

    @cached_property
    def summary(self) -> FolderSummary:
        layouts: Counter[str] = Counter()
        for dataset in self.inventory.sets:
            layouts[str(dataset.layout)] += len(dataset.items)
        items = [item for dataset in self.inventory.sets for item in dataset.items]
        return FolderSummary(
            folder=self.inventory.root,
            mtime_ns=self.mtime_ns,
            images=len(items),
            labelled=sum(item.label is not None for item in items),
            layouts=tuple(layout for layout, _ in layouts.most_common()),
            counts=self.report.counts,
        )


def _mtime_ns(folder: Path) -> int:
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return 0


_PAIRED = {
    FindingKind.LEAKY_SPLITS: "its copy: {}",
    FindingKind.SHARED_WITH_SET: "also {}",
    FindingKind.LABELS_DIFFER_ACROSS_SETS: "labelled otherwise as {}",
}
"""How a row of a finding about pairs of images names the other image of its pair."""


def _related_rows(finding: Finding) -> list[tuple[str, str]]:
    """The rows under a finding for the other files it concerns, each with what it is."""
    if finding.pairs:
        told = _PAIRED.get(finding.kind, "with {}")
        return [(image, told.format(other)) for image, other in finding.pairs]
    if finding.kind is FindingKind.NEAR_DUPLICATES:
        return [(rel, f"looks like {finding.path}") for rel in finding.related]
    return [(rel, f"same bytes as {finding.path}") for rel in finding.related]


def _problems(parts: Sequence[_Part]) -> tuple[ProblemGroup, ...]:
    rows: dict[FindingKind, list[ProblemRow]] = {}
    for part in parts:
        root = part.report.root
        for finding in part.report.findings:
            if part.relevant([finding.path, *finding.related]):
                found = rows.setdefault(finding.kind, [])
                found.append(ProblemRow(root / finding.path, finding.detail, finding.line))
                found += [
                    ProblemRow(root / rel, detail, related=True)
                    for rel, detail in _related_rows(finding)
                ]
    ordered = sorted(rows.items(), key=lambda pair: pair[0].severity.rank)
    return tuple(ProblemGroup(kind, tuple(found)) for kind, found in ordered)


def _report(parts: Sequence[_Part]) -> CheckReport:
    if len(parts) == 1 and parts[0].only is None:
        return parts[0].report
    try:
        root = Path(os.path.commonpath([part.report.root for part in parts]))
    except ValueError:  # on different drives, or nothing selected: paths stay absolute
        root = Path()
    findings: list[Finding] = []
    sets: list[SetSummary] = []
    for part in parts:
        base = part.report.root
        for finding in part.report.findings:
            if part.relevant([finding.path, *finding.related]):
                findings.append(
                    replace(
                        finding,
                        path=_moved(base, finding.path, root),
                        related=tuple(_moved(base, rel, root) for rel in finding.related),
                    )
                )
        sets += (replace(set_, root=_moved(base, set_.root, root)) for set_ in part.report.sets)
    return CheckReport(
        root=root,
        findings=tuple(sorted_stepwise(findings, key=Finding.sort_key)),
        sets=tuple(sets),
        images_checked=sum(part.report.images_checked for part in parts),
        labels_checked=sum(part.report.labels_checked for part in parts),
        deep=any(part.report.deep for part in parts),
        from_cache=sum(part.report.from_cache for part in parts),
    )


def _moved(base: Path, rel: str, root: Path) -> str:
    """``rel``, relative to ``base``, made relative to ``root`` (absolute without one)."""
    path = base / rel
    return (path.relative_to(root) if root.parts else path).as_posix()


def _measure(
    paths: list[Path], cancel: CancelToken | None
) -> Generator[Progress, None, list[tuple[int, int]]]:
    """Width and height from each image's header, in threads (headers are small reads)."""
    sizes: list[tuple[int, int]] = []
    throttle = Throttle()
    with helper_pool(_MEASURE_WORKERS, "datayard-measure") as pool:
        for start in range(0, len(paths), _MEASURE_CHUNK):
            check_cancel(cancel)
            chunk = paths[start : start + _MEASURE_CHUNK]
            sizes += [size for size in pool.map(image_size, chunk) if size is not None]
            if throttle.due():
                yield Progress(PHASE_MEASURING, start + len(chunk), len(paths))
    return sizes


def image_size(path: Path) -> tuple[int, int] | None:
    """Width and height as stored, or ``None`` when the header cannot be read."""
    try:
        with open_image(path) as image:
            width, height = image.size
    except _SIZE_ERRORS:
        return None
    return width, height
