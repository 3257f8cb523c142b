"""Base and trained models in the store, versioned like datasets."""
