"""Builders shared by the scan tests (not a pytest conftest: imported by name)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from datayard.core.drive.inventory import DatasetSet, Inventory
from datayard.core.drive.scan import scan
from datayard.core.events import run_to_end


def touch(root: Path, *rels: str, content: bytes = b"\xff\xd8 image") -> None:
    """Create files (and their folders); the content is not a real image, the scan never decodes."""
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def label(root: Path, rel: str, *class_ids: int) -> None:
    lines = "".join(f"{class_id} 0.5 0.5 0.1 0.1\n" for class_id in class_ids)
    touch(root, rel, content=lines.encode())


def scan_to_end(root: Path, database: Path | None = None, **options: object) -> Inventory:
    return run_to_end(scan(root, database=database, **options), Inventory)  # type: ignore[arg-type]


def only_set(inventory: Inventory, root: str) -> DatasetSet:
    (found,) = [dataset for dataset in inventory.sets if dataset.root == root]
    return found


def rewrite_keeping_stat(path: Path, content: bytes) -> None:
    """Change the content but not the size or mtime: only a cache can miss that."""
    before = path.stat()
    assert len(content) == before.st_size
    path.write_bytes(content)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
