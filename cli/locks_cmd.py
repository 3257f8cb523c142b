"""``datayard locks`` and ``datayard unlock``: who holds the store, and clearing dead holders."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from datayard.core.datasets.describe import count
from datayard.core.store.locks import (
    LockTiming,
    list_locks,
    liveness,
    remove_locks,
    server_time,
)

from .render import out, print_json
from .versions import json_option, open_store, profile_option


@click.command(name="locks")
@profile_option
@json_option
def command(profile_name: str | None, as_json: bool) -> None:
    """List the operations that hold the store: pushes (shared) and gc or repairs (exclusive).

    A lock is stale when its holder stopped refreshing it, and ended when its
    process on this machine is gone: neither stops anything, and
    'datayard unlock' removes them.
    """
    store = open_store(profile_name)
    now = server_time(store.bucket)
    stale_s = LockTiming().stale_s
    locks = sorted(list_locks(store.bucket), key=lambda lock: lock.modified)
    rows = [(lock, liveness(lock, server_now=now, stale_s=stale_s)) for lock in locks]
    if as_json:
        print_json(
            [
                {
                    "key": lock.key,
                    "mode": lock.mode.value,
                    "state": state.value,
                    "refreshed": lock.modified.isoformat(timespec="seconds"),
                    "operation": lock.holder.operation if lock.holder else None,
                    "user": lock.holder.user if lock.holder else None,
                    "host": lock.holder.host if lock.holder else None,
                    "pid": lock.holder.pid if lock.holder else None,
                }
                for lock, state in rows
            ]
        )
        return
    if not rows:
        out.print("No locks: nothing is pushing or collecting garbage on this store.")
        return
    table = Table("holder", "mode", "state", "refreshed")
    for lock, state in rows:
        ago = int((now - lock.modified).total_seconds())
        table.add_row(Text(lock.describe()), lock.mode.value, state.value, f"{ago} s ago")
    out.print(table)


@click.command(name="unlock")
@profile_option
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Remove live locks too: only when no Datayard is working on this store any more.",
)
def unlock(profile_name: str | None, everything: bool) -> None:
    """Remove the locks of operations that ended without removing them (stale or ended).

    A live lock belongs to a push or gc that is running: removing it (--all)
    lets a gc delete blobs that push is about to use.
    """
    store = open_store(profile_name)
    removed, kept = remove_locks(store.bucket, everything=everything)
    for lock in removed:
        out.print(Text(f"removed {lock.describe()}"))
    out.print(f"Removed {count(len(removed), 'lock')}.")
    if kept:
        out.print(f"Kept {count(len(kept), 'live lock')}: their operations are running.")
