"""Training hosts reached over SSH: the list of hosts, the SSH adapter, checks and set-up."""
