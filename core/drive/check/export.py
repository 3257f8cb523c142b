"""The check report as files to hand on: CSV for spreadsheets and scripts, HTML for people.

The page is one self-contained file (styles inline, thumbnails as data URIs,
no links) so that it still shows everything when mailed or attached to a
ticket, far from the share. Its thumbnails come from the app's thumbnail
cache, which decodes HEIC and applies EXIF rotation as training does, and
reuses what the inspector's grid already made.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from datayard.core.atomic import atomic_file, remove_leftovers
from datayard.core.drive.check.findings import Finding, Severity
from datayard.core.drive.check.report import CheckReport, FindingGroup
from datayard.core.drive.check.sets import SetSummary
from datayard.core.drive.formats import is_image
from datayard.core.drive.thumbnails import ThumbnailCache
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken

MAX_THUMBNAILS = 500
"""Images a page shows as thumbnails: more would take minutes to decode on a share
and make a page of tens of megabytes; the rest are listed without."""

CSV_COLUMNS = ("severity", "kind", "path", "line", "detail", "related", "hint")
RELATED_SEPARATOR = ";"
CSV_ENCODING = "utf-8-sig"
"""UTF-8 after a byte-order mark, which tells Excel the encoding; LibreOffice and a
csv reader opening the file with this encoding skip the mark."""

_NAMES = {Severity.ERROR: "errors", Severity.WARNING: "warnings", Severity.INFO: "notes"}
_UNDECODABLE_NAMES = "surrogateescape"
"""A file name that is not valid UTF-8 is written with its own bytes, as it is on the disk."""
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1em; }
td, th { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left;
         vertical-align: middle; }
td.thumb { width: 132px; }
.path { font-family: monospace; overflow-wrap: anywhere; }
.hint { color: #555; max-width: 60em; }
.error { color: #b00020; } .warning { color: #8a6d00; } .info { color: #00607a; }
.note { background: #fff6d6; padding: 6px 10px; }
"""


class ExportError(UsageError):
    """A report file cannot be written where the user asked; the message says why."""


def check_destination(target: Path) -> None:
    """Refuse a file whose folder is missing or read-only before a check that takes minutes.

    Writing can still fail later (a full disk): it raises the same error.
    """
    folder = target.parent
    if not folder.is_dir():
        raise ExportError(f"cannot write {target}: there is no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise ExportError(f"cannot write {target}: no permission to write in {folder}")


def write_csv(report: CheckReport, target: Path) -> None:
    """One row per finding under a header of :data:`CSV_COLUMNS`; raises :class:`ExportError`.

    UTF-8 with a byte-order mark (:data:`CSV_ENCODING`): without one, Excel takes the file
    for the system's code page and garbles every non-ASCII name.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(finding) for finding in report.findings)
    _write(target, buffer.getvalue(), CSV_ENCODING)


def _csv_row(finding: Finding) -> tuple[str, ...]:
    return (
        finding.severity.value,
        finding.kind.value,
        finding.path,
        "" if finding.line is None else str(finding.line),
        finding.detail,
        RELATED_SEPARATOR.join(finding.related),
        finding.kind.hint,
    )


def write_html(
    report: CheckReport,
    target: Path,
    thumbnails: ThumbnailCache,
    *,
    limit: int = MAX_THUMBNAILS,
    cancel: CancelToken | None = None,
) -> None:
    """The report as one HTML page; raises :class:`ExportError`, or ``Cancelled``."""
    _write(target, report_page(report, thumbnails, limit=limit, cancel=cancel))


def report_page(
    report: CheckReport,
    thumbnails: ThumbnailCache,
    *,
    limit: int = MAX_THUMBNAILS,
    cancel: CancelToken | None = None,
) -> str:
    """The page's HTML: the sets, then the findings grouped by problem with their fix.

    The first ``limit`` images named by findings, in report order (errors
    first), get a thumbnail; an image that does not decode gets none.
    """
    images = list(dict.fromkeys(f.path for f in report.findings if is_image(f.path)))
    shown = _data_uris(report.root, images[:limit], thumbnails, cancel)
    title = f"Check of {report.root}"
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f"<title>{_text(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n",
        f"<h1>{_text(title)}</h1>\n{_verdict(report)}\n",
        *_sets(report.sets),
    ]
    if len(images) > limit:
        parts.append(
            f'<p class="note">Thumbnails are shown for the first {limit:,} of '
            f"{len(images):,} images; the rest are listed without.</p>\n"
        )
    for group in report.groups:
        parts += _group(group, shown)
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def _data_uris(
    root: Path, images: Sequence[str], thumbnails: ThumbnailCache, cancel: CancelToken | None
) -> dict[str, str]:
    """The thumbnails of ``images`` (relative to ``root``) that could be made, as data URIs."""
    uris: dict[str, str] = {}
    made = thumbnails.get_all([root / rel for rel in images], cancel=cancel)
    for rel, thumbnail in zip(images, made, strict=True):
        if thumbnail.file is None:
            continue
        try:
            jpeg = thumbnail.file.read_bytes()
        except OSError:  # the cache was cleared meanwhile: the row goes without
            continue
        uris[rel] = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
    return uris


def _verdict(report: CheckReport) -> str:
    counts = ", ".join(f"{report.counts[s]:,} {_NAMES[s]}" for s in Severity)
    verdict, style = ("Trainable", "") if report.trainable else ("Not trainable", "error")
    return (
        f'<p><strong class="{style}">{verdict}</strong>: {counts} in '
        f"{report.images_checked:,} images and {report.labels_checked:,} label files.</p>"
    )


def _sets(sets: Sequence[SetSummary]) -> Iterator[str]:
    if not sets:
        return
    yield "<h2>Sets</h2>\n<table>\n<tr>"
    yield "".join(
        f"<th>{name}</th>"
        for name in ("folder", "layout", "images", "labelled", "splits", "classes")
    )
    yield "</tr>\n"
    for summary in sets:
        splits = " ".join(f"{split}: {count:,}" for split, count in _named(summary.splits)) or "-"
        classes = ", ".join(
            f"{stats.class_id} {stats.name or '(no name)'}: {stats.instances:,}"
            for stats in summary.classes
        )
        cells = (
            f'<td class="path">{_text(summary.root)}</td>',
            f"<td>{_text(summary.layout.value)}</td>",
            f"<td>{summary.images:,}</td>",
            f"<td>{summary.labelled_images:,}</td>",
            f"<td>{_text(splits)}</td>",
            f"<td>{_text(classes or '-')}</td>",
        )
        yield f"<tr>{''.join(cells)}</tr>\n"
    yield "</table>\n"


def _named(splits: Mapping[str, int]) -> Iterator[tuple[str, int]]:
    """Splits with a name: a set without splits counts its images under ``""``."""
    return ((split, count) for split, count in splits.items() if split)


def _group(group: FindingGroup, thumbnails: Mapping[str, str]) -> Iterator[str]:
    severity = group.severity.value
    yield (
        f'<h2 class="{severity}">{severity.upper()}: {_text(group.kind.heading)} '
        f"({len(group.findings):,})</h2>\n"
        f'<p class="hint">{_text(group.kind.hint)}</p>\n<table>\n'
    )
    for finding in group.findings:
        uri = thumbnails.get(finding.path)
        thumbnail = f'<img src="{uri}" alt="">' if uri else ""
        where = finding.path + (f":{finding.line}" if finding.line is not None else "")
        also = f"<br>also: {_text(', '.join(finding.related))}" if finding.related else ""
        yield (
            f'<tr><td class="thumb">{thumbnail}</td><td class="path">{_text(where)}</td>'
            f"<td>{_text(finding.detail)}{also}</td></tr>\n"
        )
    yield "</table>\n"


def _text(value: str) -> str:
    return html.escape(value, quote=True)


def _write(target: Path, text: str, encoding: str = "utf-8") -> None:
    """Replace ``target`` whole, so that a reader or a failed export never sees half a file."""
    try:
        remove_leftovers(target)
        with atomic_file(target) as handle:
            handle.write(text.encode(encoding, _UNDECODABLE_NAMES))
    except OSError as error:
        raise ExportError(f"cannot write {target}: {error.strerror or error}") from error
