"""The object store: the S3 adapter, the bucket's key layout, locks, the embedded server.

Nothing here knows what a dataset is: the datasets package builds on it.
"""
