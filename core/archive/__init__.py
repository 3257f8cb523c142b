"""Archiving a shared drive on a schedule: rules, passes, their reports and the units
that run them with each platform's own scheduler."""
