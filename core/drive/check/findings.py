"""What a check can find, how serious it is, and what the user should do about it.

Severity follows one rule: ERROR when a training run would crash or silently
drop or corrupt data, WARNING when it trains but probably not as intended,
INFO when the user should merely know. Each kind carries one fix hint written
for a data scientist; the per-finding ``detail`` says what exactly is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most serious, so that sorting puts errors first."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)


class FindingKind(StrEnum):
    """One kind of problem; the value is the stable name used in JSON."""

    # Images
    EMPTY_FILE = "empty_file"
    UNREADABLE_IMAGE = "unreadable_image"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT_IMAGE = "corrupt_image"
    TRUNCATED_IMAGE = "truncated_image"
    DECOMPRESSION_BOMB = "decompression_bomb"
    WRONG_EXTENSION = "wrong_extension"
    EXTREME_ASPECT = "extreme_aspect"
    HIGH_BIT_DEPTH = "high_bit_depth"
    CMYK = "cmyk"
    EXIF_ROTATED = "exif_rotated"
    # Label files
    LABEL_UNREADABLE = "label_unreadable"
    LABEL_MALFORMED = "label_malformed"
    LABEL_CLASS_ID = "label_class_id"
    LABEL_CLASS_BEYOND_NAMES = "label_class_beyond_names"
    LABEL_NOT_FINITE = "label_not_finite"
    LABEL_COORDINATES = "label_coordinates"
    LABEL_MIXED_SHAPES = "label_mixed_shapes"
    LABEL_DUPLICATE_LINE = "label_duplicate_line"
    LABEL_NO_AREA = "label_no_area"
    LABEL_TINY_OBJECT = "label_tiny_object"
    LABEL_MANY_OBJECTS = "label_many_objects"
    LABEL_FOR_UNTURNED_IMAGE = "label_for_unturned_image"
    # Sets
    DATA_YAML_INVALID = "data_yaml_invalid"
    DATA_YAML_MISSING_SPLIT = "data_yaml_missing_split"
    DATA_YAML_TOO_FEW_NAMES = "data_yaml_too_few_names"
    NO_LABELLED_IMAGES = "no_labelled_images"
    ORPHAN_LABEL = "orphan_label"
    DUPLICATE_IMAGES = "duplicate_images"
    LEAKY_SPLITS = "leaky_splits"
    NEAR_DUPLICATES = "near_duplicates"
    SHARED_WITH_SET = "shared_with_set"
    LABELS_DIFFER_ACROSS_SETS = "labels_differ_across_sets"
    SPLITS_SHARE_IMAGES = "splits_share_images"
    UNLABELLED_IMAGE = "unlabelled_image"
    UNUSED_CLASS = "unused_class"
    CLASS_IMBALANCE = "class_imbalance"
    # What the scan could not look at
    UNREADABLE_FOLDER = "unreadable_folder"
    UNREADABLE_FILE = "unreadable_file"
    BROKEN_SYMLINK = "broken_symlink"
    SYMLINK_LOOP = "symlink_loop"

    @property
    def severity(self) -> Severity:
        return _ABOUT[self].severity

    @property
    def heading(self) -> str:
        """A short name of the problem for report headings (``str.title`` is taken)."""
        return _ABOUT[self].heading

    @property
    def hint(self) -> str:
        return _ABOUT[self].hint


@dataclass(frozen=True, slots=True)
class _About:
    severity: Severity
    heading: str
    hint: str


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO
_ABOUT: dict[FindingKind, _About] = {
    FindingKind.EMPTY_FILE: _About(
        _E, "empty image file (0 bytes)", "The copy or export failed: copy the image again."
    ),
    FindingKind.UNREADABLE_IMAGE: _About(
        _E,
        "image cannot be read",
        "The file exists but cannot be opened: check its permissions on the share.",
    ),
    FindingKind.NOT_AN_IMAGE: _About(
        _E,
        "not an image",
        "The content is not an image at all: replace it with the real image or delete it.",
    ),
    FindingKind.UNSUPPORTED_FORMAT: _About(
        _E,
        "image format Ultralytics does not read",
        "Ultralytics skips these images: convert them to JPEG or PNG.",
    ),
    FindingKind.CORRUPT_IMAGE: _About(
        _E, "image does not decode", "The image data is damaged: re-export the image."
    ),
    FindingKind.TRUNCATED_IMAGE: _About(
        _E,
        "image is truncated",
        "The end of the file is missing (an interrupted copy or upload): "
        "copy it again from its source or re-export it.",
    ),
    FindingKind.DECOMPRESSION_BOMB: _About(
        _E,
        "image declares too many pixels",
        "The header claims more pixels than the limit (a decompression bomb or a broken "
        "header): re-export the image at a sane size.",
    ),
    FindingKind.WRONG_EXTENSION: _About(
        _W,
        "extension does not match the content",
        "Rename the file to the extension of its real format: tools that trust the "
        "extension (browsers, content types in the store) will mishandle it.",
    ),
    FindingKind.EXTREME_ASPECT: _About(
        _W,
        "extreme aspect ratio",
        "Resized to the training size, the image becomes a thin line: crop or tile it.",
    ),
    FindingKind.HIGH_BIT_DEPTH: _About(
        _W,
        "more than 8 bits per channel",
        "Training loads it through OpenCV, which scales it to 8 bits and loses precision: "
        "for depth or thermal data, normalise it to 8 bits yourself.",
    ),
    FindingKind.CMYK: _About(
        _I,
        "CMYK colours",
        "Converted to RGB when training loads it; colours may shift: re-export as RGB "
        "for exact colours.",
    ),
    FindingKind.EXIF_ROTATED: _About(
        _I,
        "EXIF orientation",
        "Training loads the image rotated as its EXIF orientation says, so boxes must be "
        "drawn on the rotated view; re-export with the rotation applied to remove doubt.",
    ),
    FindingKind.LABEL_UNREADABLE: _About(
        _E,
        "label file cannot be read",
        "Save the label as plain UTF-8 text (and check its permissions).",
    ),
    FindingKind.LABEL_MALFORMED: _About(
        _E,
        "malformed label line",
        "A line must be 'class x_center y_center width height' (a box) or "
        "'class x1 y1 x2 y2 x3 y3 ...' (a polygon); Ultralytics skips the whole image "
        "when one line is malformed: fix or delete the line.",
    ),
    FindingKind.LABEL_CLASS_ID: _About(
        _E,
        "class id is not a non-negative integer",
        "Class ids are 0-based integers indexing the names in data.yaml: replace class "
        "names or decimals with the id.",
    ),
    FindingKind.LABEL_CLASS_BEYOND_NAMES: _About(
        _E,
        "class id beyond the class names",
        "Ultralytics skips the image: add the missing names to data.yaml (or classes.txt) "
        "or fix the label.",
    ),
    FindingKind.LABEL_NOT_FINITE: _About(
        _E,
        "NaN or infinite value in a label",
        "The exporting tool wrote NaN or inf: fix or delete the line.",
    ),
    FindingKind.LABEL_COORDINATES: _About(
        _E,
        "coordinates outside [0, 1]",
        "Coordinates are fractions of the image width and height: divide pixel values "
        "by the image size, or clip boxes at the image border. Ultralytics skips the image.",
    ),
    FindingKind.LABEL_MIXED_SHAPES: _About(
        _E,
        "boxes and polygons in one label file",
        "Ultralytics skips the image (it refuses labels that mix segment and detection "
        "rows): convert the boxes to 4-point polygons, or keep one kind per file.",
    ),
    FindingKind.LABEL_DUPLICATE_LINE: _About(
        _W,
        "duplicate label line",
        "The same object is labelled twice; Ultralytics drops the repeats: delete them "
        "so that counts are right.",
    ),
    FindingKind.LABEL_NO_AREA: _About(
        _W,
        "object with no area",
        "A box of width or height 0, or a polygon whose points are fewer than three "
        "distinct ones or lie on one line, outlines nothing: Ultralytics drops it in "
        "training, so the object is not learnt. Redraw it or delete the line.",
    ),
    FindingKind.LABEL_TINY_OBJECT: _About(
        _W,
        "object under 2 pixels at the training size",
        "Training scales each image to 640 pixels on its longer side, and Ultralytics' "
        "augmentation drops objects under 2 pixels wide or high: this one is not learnt. "
        "Train at a larger imgsz, crop the image into tiles, or delete the line.",
    ),
    FindingKind.LABEL_MANY_OBJECTS: _About(
        _I,
        "more than 300 objects in one image",
        "Ultralytics keeps at most 300 detections per image (max_det) when it validates and "
        "predicts, so recall on this image is capped: raise max_det, or cut the image into "
        "tiles.",
    ),
    FindingKind.LABEL_FOR_UNTURNED_IMAGE: _About(
        _W,
        "label measured on the image as stored, not as training turns it",
        "The image's EXIF orientation turns it by 90 degrees, so training sees its width "
        "and height swapped, and its label has coordinates beyond [0, 1]: what a labelling "
        "tool writes when it measures the image as stored and divides by its turned size. "
        "Re-export the image with its rotation applied and label it there.",
    ),
    FindingKind.DATA_YAML_INVALID: _About(
        _E, "invalid data.yaml", "Fix data.yaml: training reads it before anything else."
    ),
    FindingKind.DATA_YAML_MISSING_SPLIT: _About(
        _E,
        "data.yaml points at a missing split",
        "Fix the path in data.yaml (relative to the data.yaml's folder) or remove the split.",
    ),
    FindingKind.DATA_YAML_TOO_FEW_NAMES: _About(
        _E,
        "data.yaml names fewer classes than the labels use",
        "Add the missing class names to data.yaml (ids are 0-based), or fix the labels "
        "listed under 'class id beyond the class names'.",
    ),
    FindingKind.SPLITS_SHARE_IMAGES: _About(
        _W,
        "data.yaml lists images in two splits",
        "Validation must see images that training did not: point val (and test) at "
        "folders of their own in data.yaml, or move the shared images into one split. "
        "The set holds each image once, in the first split that lists it.",
    ),
    FindingKind.NO_LABELLED_IMAGES: _About(
        _W,
        "set without any label",
        "Labels are expected here but none was found: copy the labels in, otherwise the "
        "model trains on background images only.",
    ),
    FindingKind.ORPHAN_LABEL: _About(
        _W,
        "label without image",
        "The image of this label is missing (renamed, moved or deleted): restore it or "
        "delete the label; training ignores it.",
    ),
    FindingKind.DUPLICATE_IMAGES: _About(
        _W,
        "identical images under several names",
        "Delete the copies: duplicates weigh double in training.",
    ),
    FindingKind.LEAKY_SPLITS: _About(
        _W,
        "images of val or test also in an earlier split",
        "A model is scored on images it trained on, or nearly: the same bytes, or the same "
        "picture re-encoded, resized, slightly cropped, or a neighbouring video frame. Move "
        "each pair (and the frames around it) into one split; split videos by recording, "
        "not by frame.",
    ),
    FindingKind.NEAR_DUPLICATES: _About(
        _I,
        "images that look the same",
        "Re-encoded, resized or slightly cropped copies, or neighbouring video frames: they "
        "weigh more in training than other images. Keep one where they add nothing.",
    ),
    FindingKind.SHARED_WITH_SET: _About(
        _I,
        "images also in another set",
        "The same bytes under another set (another person's folder, often): the store "
        "keeps them once. Train on both sets and these images count twice.",
    ),
    FindingKind.LABELS_DIFFER_ACROSS_SETS: _About(
        _W,
        "the same image labelled differently in two sets",
        "One of the labellings is probably wrong, and a model trained on both sets learns "
        "both answers: compare them and fix one.",
    ),
    FindingKind.UNLABELLED_IMAGE: _About(
        _I,
        "image without label",
        "Trained as a background image (no objects): add a label if it shows objects.",
    ),
    FindingKind.UNUSED_CLASS: _About(
        _I,
        "class never used",
        "No label uses this class: add examples, or remove it from data.yaml (and "
        "renumber the labels after it).",
    ),
    FindingKind.CLASS_IMBALANCE: _About(
        _I,
        "classes used very unevenly",
        "The model sees the rare class too seldom to learn it well: label more of it, or "
        "weigh it up (copies, or cls weights), and judge it by its own scores.",
    ),
    FindingKind.UNREADABLE_FOLDER: _About(
        _W,
        "folder cannot be read",
        "Its files were not checked and will not be pushed: ask its owner for read access.",
    ),
    FindingKind.UNREADABLE_FILE: _About(
        _W,
        "file cannot be read",
        "It was not checked, and a push fails on an image or label it cannot read: ask its "
        "owner for read access.",
    ),
    FindingKind.BROKEN_SYMLINK: _About(
        _W,
        "broken symbolic link",
        "The link points at nothing: fix or delete it.",
    ),
    FindingKind.SYMLINK_LOOP: _About(
        _I,
        "symbolic link loop",
        "The link points back at one of its own parent folders; it was followed once only.",
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place.

    ``path`` is POSIX and relative to the scanned root; ``related`` lists other
    paths involved in the same problem (the copies of a duplicate image; by
    default every image of ``pairs``).
    """

    kind: FindingKind
    path: str
    detail: str
    line: int | None = None
    related: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    """For a finding about a whole set, the two images of each case it counts."""

    def __post_init__(self) -> None:
        if self.pairs and not self.related:
            paths = dict.fromkeys(path for pair in self.pairs for path in pair)
            object.__setattr__(self, "related", tuple(paths))

    @property
    def severity(self) -> Severity:
        return self.kind.severity

    def sort_key(self) -> tuple[int, int, str, int]:
        return (self.severity.rank, _KIND_ORDER[self.kind], self.path, self.line or 0)


_KIND_ORDER = {kind: index for index, kind in enumerate(FindingKind)}
