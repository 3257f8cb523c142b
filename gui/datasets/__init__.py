"""The datasets in the store: browse versions, read one, compare two, pull one."""

from .view import DatasetsView

__all__ = ["DatasetsView"]
