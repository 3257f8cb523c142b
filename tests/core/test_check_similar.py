"""Images compared by their looks: copies leaking between splits, look-alikes within one.

The photos are Ultralytics' own two sample photos, cut into four unrelated
pictures; the copies are what a shared drive holds: re-encoded, resized,
slightly cropped, and the next frame of a video (the view moved a little).
"""

from __future__ import annotations

import importlib.util
import io
import random
from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from datayard.core.drive.check import CheckReport, FindingKind, check
from datayard.core.drive.check.similar import (
    LONG_DISTANCE,
    SHORT_DISTANCE,
    Fingerprint,
    fingerprint_of,
    look_alike_pairs,
)
from datayard.core.drive.inventory import Inventory
from datayard.core.drive.scan import scan
from datayard.core.events import Finished, Progress, run_to_end

YAML = b"train: images/train\nval: images/val\nnames: [thing]\n"


def photo(name: str) -> Image.Image:
    spec = importlib.util.find_spec("ultralytics")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "assets"
    with Image.open(folder / name) as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def pictures() -> dict[str, Image.Image]:
    """Four unrelated pictures: the halves of two photos."""
    found = {}
    for name in ("bus.jpg", "zidane.jpg"):
        whole = photo(name)
        width, height = whole.size
        found[f"{name[:-4]}-left"] = whole.crop((0, 0, width // 2, height))
        found[f"{name[:-4]}-right"] = whole.crop((width // 2, 0, width, height))
    return found


def jpeg(picture: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def cropped(picture: Image.Image, fraction: float) -> Image.Image:
    width, height = picture.size
    dx, dy = int(width * fraction / 2), int(height * fraction / 2)
    return picture.crop((dx, dy, width - dx, height - dy))


def moved(picture: Image.Image, fraction: float) -> Image.Image:
    """The next frame of a camera panning slowly: the view shifted sideways."""
    width, height = picture.size
    return picture.crop((int(width * fraction), 0, width, height)).resize((width, height))


def write_set(root: Path, files: dict[str, bytes]) -> None:
    (root / "ds").mkdir(parents=True)
    (root / "ds/data.yaml").write_bytes(YAML)
    for rel, data in files.items():
        path = root / "ds/images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        label = root / "ds/labels" / Path(rel).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_bytes(b"0 0.5 0.5 0.2 0.2\n")


def checked(
    root: Path, database: Path | None, similar: bool = True
) -> tuple[CheckReport, list[Progress]]:
    inventory = run_to_end(scan(root, database=database), Inventory)
    events = list(check(inventory, workers=2, database=database, similar=similar))
    progress = [event for event in events if isinstance(event, Progress)]
    (finished,) = (event for event in events if isinstance(event, Finished))
    return finished.result, progress


def test_copies_across_splits_are_one_leak_finding_and_look_alikes_one_cluster(
    pictures: dict[str, Image.Image], tmp_path: Path
) -> None:
    bus, bus_right = pictures["bus-left"], pictures["bus-right"]
    zidane, zidane_right = pictures["zidane-left"], pictures["zidane-right"]
    width, height = zidane.size
    write_set(
        tmp_path,
        {
            "train/bus.jpg": jpeg(bus),
            "train/bus_next_frame.jpg": jpeg(moved(bus, 0.02)),
            "train/zidane.jpg": jpeg(zidane),
            "train/exact.jpg": jpeg(bus_right),
            "val/zidane_small.jpg": jpeg(zidane.resize((width // 3, height // 3)), quality=40),
            "val/bus_cropped.jpg": jpeg(cropped(bus, 0.04)),
            "val/exact.jpg": jpeg(bus_right),
            "val/other.jpg": jpeg(zidane_right),
        },
    )
    report, _ = checked(tmp_path, tmp_path / "state.sqlite")

    (leak,) = report.of_kind(FindingKind.LEAKY_SPLITS)
    assert leak.path == "ds/data.yaml"
    assert leak.detail == (
        "3 images of val have a copy in train (1 with the same bytes, 2 that look the same): "
        "their scores will look better than they are"
    )
    images = "ds/images/"
    val_to_train = {(image[len(images) :], copy[len(images) :]) for image, copy in leak.pairs}
    assert val_to_train == {
        ("val/exact.jpg", "train/exact.jpg"),
        ("val/zidane_small.jpg", "train/zidane.jpg"),
        # The crop looks like the bus and like its next frame: either is its copy.
        ("val/bus_cropped.jpg", next(copy for image, copy in val_to_train if "cropped" in image)),
    }
    assert dict(val_to_train)["val/bus_cropped.jpg"] in {
        "train/bus.jpg",
        "train/bus_next_frame.jpg",
    }
    (cluster,) = report.of_kind(FindingKind.NEAR_DUPLICATES)
    assert (cluster.path, cluster.related) == (
        f"{images}train/bus.jpg",
        (f"{images}train/bus_next_frame.jpg",),
    )
    assert cluster.detail == "2 images in train that look the same"
    assert f"{images}val/other.jpg" not in {*leak.related, cluster.path, *cluster.related}
    assert not report.of_kind(FindingKind.DUPLICATE_IMAGES)  # the exact copy is the leak

    without, _ = checked(tmp_path, None, similar=False)  # a push's check: bytes only
    (exact_only,) = without.of_kind(FindingKind.LEAKY_SPLITS)
    assert exact_only.pairs == ((f"{images}val/exact.jpg", f"{images}train/exact.jpg"),)
    assert not without.of_kind(FindingKind.NEAR_DUPLICATES)


def test_a_second_check_decodes_nothing_to_compare_and_finds_the_same(
    pictures: dict[str, Image.Image], tmp_path: Path
) -> None:
    bus = pictures["bus-left"]
    write_set(
        tmp_path,
        {"train/a.jpg": jpeg(bus), "val/b.jpg": jpeg(bus, quality=50)}
        | {f"train/{name}.jpg": jpeg(picture) for name, picture in pictures.items()},
    )
    database = tmp_path / "state.sqlite"
    first, first_progress = checked(tmp_path, database)
    second, second_progress = checked(tmp_path, database)

    def compared(progress: list[Progress]) -> int | None:
        return [event for event in progress if event.phase == "comparing"][-1].total

    assert compared(first_progress) == 5  # a.jpg and bus-left.jpg are the same bytes
    assert compared(second_progress) == 0
    assert second.of_kind(FindingKind.LEAKY_SPLITS) == first.of_kind(FindingKind.LEAKY_SPLITS)
    assert len(first.of_kind(FindingKind.LEAKY_SPLITS)[0].pairs) == 1


def test_flat_images_are_not_look_alikes(tmp_path: Path) -> None:
    """A blank frame has no structure: its hash is noise, so it matches nothing."""
    flat = {
        f"{split}/{colour}.png": _png(Image.new("RGB", (64, 48), colour))
        for split, colour in (("train", "black"), ("train", "navy"), ("val", "white"))
    }
    write_set(tmp_path, flat)
    report, _ = checked(tmp_path, None)
    assert not report.of_kind(FindingKind.NEAR_DUPLICATES)
    assert not report.of_kind(FindingKind.LEAKY_SPLITS)


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def test_the_hashes_are_imagehash_phash(pictures: dict[str, Image.Image]) -> None:
    for picture in pictures.values():
        small = picture.resize((128, 96))
        found = fingerprint_of(small)
        assert found is not None
        short = np.packbits(imagehash.phash(small).hash.flatten()).tobytes()
        long = np.packbits(imagehash.phash(small, hash_size=16).hash.flatten()).tobytes()
        assert (found.short.to_bytes(8, "big"), found.long) == (short, long)


def _flip(value: int, bits: int, flips: list[int]) -> int:
    for bit in flips:
        value ^= 1 << (bit % bits)
    return value


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    count=st.integers(0, 40),
    copies=st.lists(
        st.tuples(
            st.integers(0, 39),
            st.lists(st.integers(0, 63), max_size=SHORT_DISTANCE + 3),
            st.lists(st.integers(0, 255), max_size=LONG_DISTANCE + 8),
        ),
        max_size=12,
    ),
)
def test_the_pair_search_finds_exactly_what_comparing_every_pair_finds(
    seed: int, count: int, copies: list[tuple[int, list[int], list[int]]]
) -> None:
    rng = random.Random(seed)
    prints = [Fingerprint(rng.getrandbits(64), rng.randbytes(32)) for _ in range(count)]
    for source, short_flips, long_flips in copies:
        if prints:
            original = prints[source % len(prints)]
            long = _flip(int.from_bytes(original.long, "big"), 256, long_flips)
            prints.append(
                Fingerprint(_flip(original.short, 64, short_flips), long.to_bytes(32, "big"))
            )

    def distance(a: int, b: int) -> int:
        return (a ^ b).bit_count()

    every_pair = [
        (i, j)
        for i in range(len(prints))
        for j in range(i + 1, len(prints))
        if distance(prints[i].short, prints[j].short) <= SHORT_DISTANCE
        and distance(int.from_bytes(prints[i].long), int.from_bytes(prints[j].long))
        <= LONG_DISTANCE
    ]
    assert look_alike_pairs(prints) == every_pair
