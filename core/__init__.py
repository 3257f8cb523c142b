"""Datayard's core: everything that works without a screen.

Nothing here imports Qt, plotting or the GUI (an import-linter contract checks
it), so the CLI, the training worker and the desktop app share one code path.
"""
