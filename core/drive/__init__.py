"""What is on the shared drive: folders, images, labels, the sets they form, their checks.

Nothing here knows the object store.
"""
