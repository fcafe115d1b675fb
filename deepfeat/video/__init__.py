"""Videos: bounded decoding, face crops per frame, and a verdict per video.

* ``_io`` — :func:`read_frames` (frames spread evenly, seek or decode forward, one frame in
  memory, time and pixel budgets), :func:`list_videos`, :class:`VideoReadError`; the
  aggregation names and their measured default;
* ``_faces`` — :func:`face_frames` (largest-face squares), :func:`write_face_layout`
  (``faces_224/`` + ``metadata.csv``, resumable);
* ``_predict`` — :func:`predict_video`, :func:`aggregate_scores`.

Names are imported on first use, so that the command line can read the aggregation
choices without loading pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AGGREGATIONS": "._io",
    "DEFAULT_AGGREGATE": "._io",
    "VideoReadError": "._io",
    "list_videos": "._io",
    "read_frames": "._io",
    "face_frames": "._faces",
    "write_face_layout": "._faces",
    "aggregate_scores": "._predict",
    "predict_video": "._predict",
}

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_AGGREGATE",
    "VideoReadError",
    "aggregate_scores",
    "face_frames",
    "list_videos",
    "predict_video",
    "read_frames",
    "write_face_layout",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._faces import face_frames, write_face_layout
    from ._io import AGGREGATIONS, DEFAULT_AGGREGATE, VideoReadError, list_videos, read_frames
    from ._predict import aggregate_scores, predict_video


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return list(__all__)
