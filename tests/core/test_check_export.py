"""The check report as CSV and as a self-contained HTML page, read back as other tools would."""

from __future__ import annotations

import base64
import codecs
import csv
import io
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from datayard.core.drive.check import CheckReport, Finding, FindingKind
from datayard.core.drive.check.export import (
    CSV_COLUMNS,
    ExportError,
    check_destination,
    report_page,
    write_csv,
    write_html,
)
from datayard.core.drive.inspection import Inspection, inspect
from datayard.core.drive.thumbnails import ThumbnailCache
from datayard.core.events import Finished
from tests.fixtures.messy_tree import MessyTree, exif_rotated_jpeg, jpeg

ODD_NAME = 'cats, "the good ones".jpg'
UNICODE_NAME = "Über Straße/Ölfleck_東京.jpg"


def report_of(root: Path, *findings: Finding) -> CheckReport:
    ordered = tuple(sorted(findings, key=Finding.sort_key))
    return CheckReport(root, ordered, (), images_checked=3, labels_checked=1, deep=False)


def image(root: Path, rel: str, data: bytes) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel


class Page(HTMLParser):
    """Every tag's attributes, the text, and each table row's thumbnail and path."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, str | None] = {}
        """A finding's path (its cell text) -> its thumbnail's src, or None."""
        self.text: list[str] = []
        self._row: dict[str, str | None] | None = None
        self._in_path = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self._row = {"src": None, "path": None}
        elif tag == "img" and self._row is not None:
            self._row["src"] = dict(attrs)["src"]
        elif tag == "td" and ("class", "path") in attrs:
            self._in_path = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_path = False
        elif tag == "tr" and self._row is not None:
            if self._row["path"] is not None:
                self.rows[self._row["path"]] = self._row["src"]
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_path and self._row is not None:
            self._row["path"] = (self._row["path"] or "") + data


def test_the_csv_has_a_row_per_finding_that_a_csv_reader_reads_back(tmp_path: Path) -> None:
    report = report_of(
        tmp_path,
        Finding(FindingKind.DUPLICATE_IMAGES, ODD_NAME, "2 copies", related=("a.jpg", "b;c.jpg")),
        Finding(FindingKind.LABEL_MALFORMED, "labels/x.txt", 'line 3: "1 0.5"', line=3),
        Finding(FindingKind.UNLABELLED_IMAGE, UNICODE_NAME, "no label file\nat all"),
    )
    target = tmp_path / "report.csv"
    write_csv(report, target)
    written = target.read_bytes()
    assert written.startswith(codecs.BOM_UTF8 + b"severity,kind,path,")  # Excel reads it as UTF-8
    assert UNICODE_NAME.encode() in written
    with target.open(encoding="utf-8-sig", newline="") as file:  # as a script reads it
        header, *rows = list(csv.reader(file))
    assert tuple(header) == CSV_COLUMNS
    assert rows == [
        [
            "error",
            "label_malformed",
            "labels/x.txt",
            "3",
            'line 3: "1 0.5"',
            "",
            FindingKind.LABEL_MALFORMED.hint,
        ],
        [
            "warning",
            "duplicate_images",
            ODD_NAME,
            "",
            "2 copies",
            "a.jpg;b;c.jpg",
            FindingKind.DUPLICATE_IMAGES.hint,
        ],
        [
            "info",
            "unlabelled_image",
            UNICODE_NAME,
            "",
            "no label file\nat all",
            "",
            FindingKind.UNLABELLED_IMAGE.hint,
        ],
    ]


def test_the_page_shows_thumbnails_of_images_that_decode_and_nothing_from_outside(
    tmp_path: Path,
) -> None:
    root = tmp_path / "set"
    good = image(root, "images/good.jpg", jpeg(1))
    rotated = image(root, "images/rotated.jpg", exif_rotated_jpeg(2))  # 64x48, shown 48x64
    broken = image(root, "images/broken.jpg", b"\xff\xd8 not really a jpeg")
    tagged = image(root, "<b>x.jpg", jpeg(3))
    odd = image(root, UNICODE_NAME, jpeg(4))
    report = report_of(
        root,
        Finding(FindingKind.DUPLICATE_IMAGES, good, "same bytes", related=(tagged,)),
        Finding(FindingKind.EXIF_ROTATED, rotated, "orientation 6"),
        Finding(FindingKind.CORRUPT_IMAGE, broken, "does not <decode> & more"),
        Finding(FindingKind.UNLABELLED_IMAGE, tagged, "no label"),
        Finding(FindingKind.UNLABELLED_IMAGE, odd, "no label"),
        Finding(FindingKind.LABEL_MALFORMED, "labels/good.txt", "line 1: 4 values", line=1),
    )
    target = tmp_path / "report.html"
    write_html(report, target, ThumbnailCache(tmp_path / "thumbnails"))
    page = Page(target.read_text("utf-8"))

    references = [
        value
        for _, attrs in page.tags
        for name, value in attrs.items()
        if name in ("src", "href", "srcset", "data", "action") and value is not None
    ]
    assert references and all(value.startswith("data:image/jpeg;base64,") for value in references)
    assert not {tag for tag, _ in page.tags} & {"link", "script", "iframe", "object", "b"}
    assert {path for path, src in page.rows.items() if src} == {good, rotated, tagged, odd}
    assert page.rows[broken] is None
    assert page.rows["labels/good.txt:1"] is None
    upright = page.rows[rotated]
    assert upright is not None
    with Image.open(io.BytesIO(base64.b64decode(upright.partition(",")[2]))) as thumbnail:
        assert thumbnail.size == (48, 64)  # the EXIF rotation applied, as training sees it
    text = "".join(page.text)
    assert "does not <decode> & more" in text  # escaped in the file, as written once parsed
    assert FindingKind.CORRUPT_IMAGE.hint in text
    assert str(root) in text


def test_thumbnails_stop_at_the_limit_and_the_page_says_so(tmp_path: Path) -> None:
    names = [image(tmp_path, f"img_{index}.jpg", jpeg(index)) for index in range(3)]
    report = report_of(
        tmp_path, *(Finding(FindingKind.UNLABELLED_IMAGE, name, "no label") for name in names)
    )
    page = Page(report_page(report, ThumbnailCache(tmp_path / "thumbnails"), limit=2))
    assert [bool(page.rows[name]) for name in names] == [True, True, False]
    assert "Thumbnails are shown for the first 2 of 3 images" in "".join(page.text)


def test_a_destination_that_cannot_be_written_is_one_clear_error(tmp_path: Path) -> None:
    report = report_of(tmp_path, Finding(FindingKind.UNLABELLED_IMAGE, "a.jpg", "no label"))
    missing = tmp_path / "nowhere" / "report.csv"
    with pytest.raises(ExportError, match=r"cannot write .*report\.csv: there is no folder"):
        check_destination(missing)
    with pytest.raises(ExportError, match="cannot write"):
        write_csv(report, missing)
    out = tmp_path / "out"
    (out / "taken.html").mkdir(parents=True)
    with pytest.raises(ExportError, match=r"cannot write .*taken\.html"):
        write_html(report, out / "taken.html", ThumbnailCache(tmp_path / "thumbnails"))
    assert [path.name for path in out.iterdir()] == ["taken.html"]  # no temporary file left


def inspection_of(paths: list[Path]) -> Inspection:
    for event in inspect(paths, measure=False):
        if isinstance(event, Finished):
            return event.result
    raise AssertionError("no result")


def test_an_inspection_of_several_folders_reports_them_from_their_common_folder(
    messy_tree: MessyTree,
) -> None:
    root = messy_tree.root
    report = inspection_of([root / "phone_dump", root / "road_signs"]).report
    assert report.root == root
    expected = [
        f
        for f in messy_tree.findings
        if f.path.startswith(("phone_dump", "road_signs"))
        and f.kind != "shared_with_set"  # its copy is in a folder not inspected
    ]
    assert sorted(f.path for f in report.findings) == sorted(f.path for f in expected)
    assert {summary.root for summary in report.sets} == {"phone_dump", "road_signs"}
    assert [f.sort_key() for f in report.findings] == sorted(f.sort_key() for f in report.findings)


def test_an_inspection_of_one_file_reports_only_its_findings(messy_tree: MessyTree) -> None:
    (truncated,) = [f.path for f in messy_tree.findings if f.kind == "truncated_image"]
    report = inspection_of([messy_tree.root / truncated]).report
    assert report.root == (messy_tree.root / truncated).parent
    expected = [f.kind for f in messy_tree.findings if f.path == truncated]
    assert [(f.kind.value, f.path) for f in report.findings] == [
        (kind, Path(truncated).name) for kind in expected
    ]
