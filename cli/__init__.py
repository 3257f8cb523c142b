"""Datayard's command line: renders the core's events for a terminal."""
