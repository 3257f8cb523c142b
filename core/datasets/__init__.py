"""Dataset versions in the store: manifests, push, pull, verify, gc and listings."""
