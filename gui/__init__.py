"""Datayard's desktop app: thin PySide6 widgets over the core's events."""
