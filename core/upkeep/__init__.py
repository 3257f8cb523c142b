"""Keeping the store tidy: what datasets and models no longer use goes, and nothing else."""
