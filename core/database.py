"""The local SQLite database: scan cache, push journal, run registry.

One file in the state folder, shared by the CLI, the GUI and workers that may
run at the same time, hence WAL mode and a busy timeout. Each module that keeps
state declares its own tables with ``CREATE TABLE IF NOT EXISTS`` through
:func:`connect`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, schema: str = "") -> sqlite3.Connection:
    """Open the database, creating it and the given tables if needed.

    The connection may be used from other threads; callers serialise their use
    of it (one writer at a time is what SQLite allows anyway).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
    # Switching the journal mode takes a lock that another process's reads can
    # refuse at once ("database is locked"): switch only the first time.
    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    if schema:
        connection.executescript(schema)
    return connection


def forget_on_new_rules(
    connection: sqlite3.Connection, rules_table: str, version: int | str, forget: str
) -> None:
    """Run the statement ``forget`` when ``rules_table`` (one row: ``one``, ``version``)
    holds another version than ``version``, then record it: a cache of what some rules
    found is emptied when the rules change."""
    held = connection.execute(f"SELECT version FROM {rules_table}").fetchone()
    if held == (version,):
        return
    with connection:
        connection.execute(forget)
        connection.execute(
            f"INSERT OR REPLACE INTO {rules_table} (one, version) VALUES (1, ?)",
            (version,),
        )
