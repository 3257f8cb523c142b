"""Training runs: the dashboard of live curves, stop, pause and resume."""
