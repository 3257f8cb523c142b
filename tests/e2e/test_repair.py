"""Damaged blobs: found once, set aside, restored by pushing the files again or by a repair.

Against a real SeaweedFS, through the command line a user types. A blob is
damaged by writing other bytes under its name, of the same size (what no
listing notices) or of another size.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from datayard.core.datasets.blobs import BlobCorruptError, fetch_blob, set_aside
from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.manifest import Manifest
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import QUARANTINE, blob_key
from tests.fixtures.datasets import add_profile, fresh_bucket, run_cli
from tests.fixtures.messy_tree import make_clean_set
from tests.fixtures.services import S3Server

pytestmark = pytest.mark.usefixtures("secret_service")

LAB = ("--profile", "lab")


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    bucket = fresh_bucket(s3_server)
    add_profile(s3_server, bucket)
    return bucket


def pushed(folder: Path, bucket: Bucket) -> Manifest:
    result = run_cli("push", str(folder), "--dataset", "pets", *LAB)
    assert result.returncode == 0, result.stderr
    return Catalog(bucket).version(DatasetRef(getpass.getuser(), "pets"))


def damage(bucket: Bucket, manifest: Manifest, name: str, *, same_size: bool) -> str:
    """Overwrite the blob of the version's file ``name`` in place; return its sha256."""
    (file,) = [f for f in manifest.files if f.path.endswith(name)]
    junk = (b"\x00damaged" * file.size)[: file.size if same_size else file.size // 2]
    bucket.put_bytes(blob_key(file.sha256), junk)
    return file.sha256


def quarantined(bucket: Bucket) -> list[str]:
    return [item.key for item in bucket.objects(QUARANTINE)]


def test_a_blob_damaged_in_place_is_set_aside_by_pull_and_a_push_restores_it(
    bucket: Bucket, tmp_path: Path
) -> None:
    folder = make_clean_set(tmp_path / "pets")
    manifest = pushed(folder, bucket)
    sha = damage(bucket, manifest, "pet_01.jpg", same_size=True)
    assert run_cli("verify", "pets", *LAB).returncode == 0  # sizes alone cannot tell

    pulled = run_cli("pull", "pets", str(tmp_path / "out"), *LAB)
    assert pulled.returncode == 1
    assert "pet_01.jpg" in pulled.stderr and "damaged" in pulled.stderr
    assert "set aside" in pulled.stderr and "push the original files again" in pulled.stderr
    assert not bucket.exists(blob_key(sha))
    assert [key.split("/")[1].split(".")[0] for key in quarantined(bucket)] == [sha]

    again = run_cli("push", str(folder), "--dataset", "pets", *LAB)
    assert again.returncode == 0, again.stderr
    assert "Nothing changed" in again.stderr and "Restored 1 file content" in again.stderr
    assert run_cli("verify", "pets", "--deep", *LAB).returncode == 0
    assert run_cli("pull", "pets", str(tmp_path / "out"), *LAB).returncode == 0
    assert (tmp_path / "out/images/train/pet_01.jpg").read_bytes() == (
        folder / "images/train/pet_01.jpg"
    ).read_bytes()

    assert run_cli("gc", "--delete", *LAB).returncode == 0
    assert quarantined(bucket) == []


def test_a_blob_of_another_size_is_set_aside_by_verify_deep(bucket: Bucket, tmp_path: Path) -> None:
    folder = make_clean_set(tmp_path / "pets")
    manifest = pushed(folder, bucket)
    sha = damage(bucket, manifest, "pet_04.txt", same_size=False)

    checked = run_cli("verify", "pets", "--deep", *LAB, "--json")
    assert checked.returncode == 1
    (problem,) = json.loads(checked.stdout)["problems"]
    assert problem["sha256"] == sha and "set aside" in problem["problem"]
    assert not bucket.exists(blob_key(sha))

    assert run_cli("push", str(folder), "--dataset", "pets", *LAB).returncode == 0
    assert run_cli("verify", "pets", "--deep", *LAB).returncode == 0


def test_repair_restores_from_readable_files_and_names_the_others(
    bucket: Bucket, tmp_path: Path
) -> None:
    folder = make_clean_set(tmp_path / "pets")
    manifest = pushed(folder, bucket)
    damage(bucket, manifest, "pet_00.jpg", same_size=True)
    damage(bucket, manifest, "pet_02.jpg", same_size=False)
    moved = folder / "images/train/pet_02.jpg"
    original = moved.read_bytes()
    moved.write_bytes(b"edited since the push")

    repaired = run_cli("verify", "pets", "--deep", "--repair", *LAB)
    assert repaired.returncode == 1
    assert (
        "restored" in repaired.stdout and str(folder / "images/train/pet_00.jpg") in repaired.stdout
    )
    assert "1 blob could not be restored here; push these files again" in repaired.stdout
    assert str(moved) in repaired.stdout

    still = json.loads(run_cli("verify", "pets", "--deep", *LAB, "--json").stdout)
    assert [p["paths"] for p in still["problems"]] == [["images/train/pet_02.jpg"]]

    moved.write_bytes(original)
    assert run_cli("verify", "pets", "--deep", "--repair", *LAB).returncode == 0
    assert run_cli("verify", "pets", "--deep", *LAB).returncode == 0


def test_repair_needs_a_deep_check(bucket: Bucket, tmp_path: Path) -> None:
    pushed(make_clean_set(tmp_path / "pets"), bucket)
    refused = run_cli("verify", "pets", "--repair", *LAB)
    assert refused.returncode == 2 and "--repair needs --deep" in refused.stderr


def test_a_blob_stored_again_meanwhile_is_not_set_aside(bucket: Bucket, tmp_path: Path) -> None:
    folder = make_clean_set(tmp_path / "pets")
    manifest = pushed(folder, bucket)
    sha = damage(bucket, manifest, "pet_03.jpg", same_size=True)
    (file,) = [f for f in manifest.files if f.sha256 == sha]
    with pytest.raises(BlobCorruptError) as found:
        fetch_blob(bucket, sha, file.size)
    good = (folder / "images/train/pet_03.jpg").read_bytes()
    bucket.put_bytes(blob_key(sha), good)  # a push restored it after the read

    assert "stored again meanwhile" in set_aside(bucket, found.value)
    assert bucket.get_bytes(blob_key(sha)) == good
    assert quarantined(bucket) != []  # the copy of what was read goes with the next gc
