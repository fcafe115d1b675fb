"""Datasets as tables: ``load_dataset`` reads real data, ``make_demo_dataset`` makes some.

* ``_load`` — :func:`load_dataset` (DFDC, per-frame layouts from ``deepfeat faces``,
  manifests, folder-per-class), :func:`resolve_input` (what the CLI's INPUT means),
  :func:`list_images`, :func:`duplicate_paths`;
* ``_demo`` — :func:`make_demo_dataset` (synthetic real/fake images the package makes itself).
"""

from ._demo import make_demo_dataset
from ._load import (
    IMAGE_EXTENSIONS,
    LEAK_COLUMNS,
    duplicate_paths,
    list_images,
    load_dataset,
    resolve_input,
    sanitize_name,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "LEAK_COLUMNS",
    "duplicate_paths",
    "list_images",
    "load_dataset",
    "make_demo_dataset",
    "resolve_input",
    "sanitize_name",
]
