"""A dataset's history: versions in the order their parents chain them, numbered from v1."""

from __future__ import annotations

from dataclasses import replace

import pytest

from datayard.core.datasets.catalog import DatasetRef
from datayard.core.datasets.history import in_history_order, numbers
from datayard.core.datasets.manifest import Manifest
from datayard.core.errors import InvalidStoreObjectError, UsageError
from datayard.core.store.layout import version_key
from tests.core.test_store_objects import manifest


def version(id_: str, parent: str | None) -> Manifest:
    return replace(manifest(), id=id_, parent=parent)


A, B, C, D = (f"2026010{day}T090000Z-0000000{day}" for day in (1, 2, 3, 4))


def test_the_order_is_the_chain_of_parents_not_of_the_ids() -> None:
    """C's push started before B's but published after it: C is v3."""
    versions = [version(A, None), version(C, B), version(B, A)]

    assert [v.id for v in in_history_order(versions)] == [A, B, C]
    assert numbers(versions) == {A: 1, B: 2, C: 3}


def test_versions_from_before_parents_come_first_in_the_order_of_their_ids() -> None:
    versions = [version(C, B), version(B, None), version(A, None), version(D, C)]

    assert [v.id for v in in_history_order(versions)] == [A, B, C, D]


def test_a_cycle_written_to_the_store_neither_hangs_nor_loses_a_version() -> None:
    versions = [version(A, B), version(B, A), version(C, None)]

    assert sorted(v.id for v in in_history_order(versions)) == [A, B, C]


@pytest.mark.parametrize(
    ("text", "version_named"),
    [("ada/cats@v3", "v3"), ("cats@latest", "latest"), (f"ada/cats@{A}", A), ("cats", None)],
)
def test_a_version_is_named_by_number_latest_or_id(text: str, version_named: str | None) -> None:
    assert DatasetRef.parse(text, "ada") == DatasetRef("ada", "cats", version_named)


@pytest.mark.parametrize("text", ["cats@v0", "cats@V3", "cats@3", "cats@newest", "cats@v03"])
def test_anything_else_after_the_at_sign_is_refused_saying_what_is_meant(text: str) -> None:
    with pytest.raises(UsageError, match="give its number \\(v3\\), latest, or its id"):
        DatasetRef.parse(text, "ada")


def test_a_message_is_kept_in_the_manifest_and_checked_when_read() -> None:
    said = replace(version(A, None), message="night images added")
    key = version_key("ada", "cats", A)

    assert Manifest.from_json(said.to_json(), key).message == "night images added"
    assert b'"message"' not in version(A, None).to_json()  # none: as before messages
    hostile = said.to_json().replace(b'"night images added"', b'"' + b"x" * 600 + b'"')
    with pytest.raises(InvalidStoreObjectError, match="message"):
        Manifest.from_json(hostile, key)
