"""Video decoding with bounds: frames spread evenly over a clip, one frame in memory at a time.

OpenCV's reader (its FFmpeg backend) does the decoding. Everything that can go wrong with a
video ends as a reason, never as a crash or a hang:

* the file is refused before FFmpeg sees it when it is not a regular file (a FIFO would block
  the reader forever), is empty, or has an ending that is not a video's;
* a video FFmpeg cannot open (corrupt, truncated container, unknown codec) raises
  :class:`VideoReadError` with the reason;
* frames larger than ``max_pixels`` are refused from the header, before any decoding;
* a frame that cannot be decoded (a truncated stream, a broken packet) is yielded with its
  reason and no pixels, and the clip goes on;
* decoding stops at ``time_budget`` seconds per video (the frames not reached are yielded
  with that reason) and never reads more than ``max_read`` frames, so an extremely long clip
  or one whose length the container does not tell costs a bounded time.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "VIDEO_EXTENSIONS",
    "Frame",
    "VideoInfo",
    "VideoReadError",
    "frame_positions",
    "is_video_path",
    "list_videos",
    "read_frames",
]

#: Ways to turn frame probabilities into one per video (:func:`deepfeat.video.aggregate_scores`).
AGGREGATIONS = ("mean", "logit", "topk")

#: The measured default (``scripts/benchmarks/bench_video.py``, ``docs/benchmarks_video.md``).
DEFAULT_AGGREGATE = "mean"

#: File endings treated as videos.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")

#: Largest frame decoded (pixels): 8K UHD is 33 megapixels.
DEFAULT_MAX_FRAME_PIXELS = 40_000_000

#: Seconds of decoding allowed per video.
DEFAULT_TIME_BUDGET = 60.0

#: Frames read at most per video, seeks included (bounds clips of unknown length).
DEFAULT_MAX_READ = 20_000

#: Farther than this many frames ahead, the reader seeks instead of decoding its way there.
SEEK_GAP = 48

#: Reason of the frames a clip's time budget did not reach (a busy machine: not cached).
TIME_BUDGET_REASON = "decoding time budget"

_OPEN_TIMEOUT_MS = 10_000
_READ_TIMEOUT_MS = 10_000


class VideoReadError(Exception):
    """A video that cannot be read at all; ``reason`` says why in one line."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class VideoInfo(NamedTuple):
    """What the container says: frame count (0 when unknown), frames per second, size."""

    frame_count: int
    fps: float
    width: int
    height: int


class Frame(NamedTuple):
    """One sampled frame: its index in the clip, RGB pixels or ``None`` and the reason."""

    index: int
    image: np.ndarray | None
    error: str = ""


def is_video_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` ends like a video file (``.mp4 .avi .mov .mkv .webm``, any case).

    Examples
    --------
    >>> is_video_path("clip.MP4"), is_video_path("face.jpg")
    (True, False)
    """
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def list_videos(folder: str | os.PathLike) -> list[str]:
    """Sorted paths of every video file below ``folder`` (recursive; paths as given).

    Like :func:`deepfeat.datasets.list_images`, entries with a video ending that are not
    regular files are listed too, so that they are refused with a reason rather than
    dropped; symbolic links to folders are not followed.
    """
    return sorted(str(p) for p in Path(folder).rglob("*") if is_video_path(p))


def frame_positions(frame_count: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``frame_count`` frames (the centres of ``n``
    equal parts; fewer when the clip is shorter).

    Examples
    --------
    >>> frame_positions(100, 4)
    [12, 37, 62, 87]
    >>> frame_positions(3, 8)
    [0, 1, 2]
    """
    if frame_count <= 0 or n <= 0:
        return []
    pos = ((np.arange(n) + 0.5) * frame_count / n).astype(np.int64)
    return sorted({int(p) for p in pos})


def _check_file(path: str) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise VideoReadError(path, f"cannot open: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise VideoReadError(path, "not a regular file (a folder, FIFO or device)")
    if st.st_size == 0:
        raise VideoReadError(path, "empty file (0 bytes)")
    if not is_video_path(path):
        raise VideoReadError(
            path,
            f"not a video file ending {Path(path).suffix or '(none)'!r}; expected one of "
            + " ".join(VIDEO_EXTENSIONS),
        )


def _open(path: str, max_pixels: int | None):
    # FFmpeg's own messages ("moov atom not found") would go to stderr beside the recorded
    # reason; its log level is read once, at the first capture (a user's setting wins).
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2

    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        cap = _capture(path)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not cap.isOpened():
        cap.release()
        raise VideoReadError(
            path, "cannot open the video (corrupt or truncated file, or a codec FFmpeg lacks)"
        )
    return _checked(cap, path, max_pixels)


def _capture(path: str):
    import cv2

    return cv2.VideoCapture(
        path,
        cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC,
         _READ_TIMEOUT_MS],
    )  # fmt: skip


def _checked(cap, path: str, max_pixels: int | None):
    import cv2

    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    fps = cap.get(cv2.CAP_PROP_FPS)
    info = VideoInfo(
        frame_count=int(count) if math.isfinite(count) and 0 < count < 1e9 else 0,
        fps=float(fps) if math.isfinite(fps) and fps > 0 else 0.0,
        width=width,
        height=height,
    )
    if width <= 0 or height <= 0:
        cap.release()
        raise VideoReadError(path, "no video stream (frame size unknown)")
    if max_pixels is not None and width * height > max_pixels:
        cap.release()
        raise VideoReadError(
            path, f"frames of {width}x{height} pixels exceed max_pixels={max_pixels}"
        )
    return cap, info


def video_info(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS):
    """The :class:`VideoInfo` of a video (raises :class:`VideoReadError`)."""
    path = str(path)
    _check_file(path)
    cap, info = _open(path, max_pixels)
    cap.release()
    return info


def _count_frames(path: str, max_pixels: int | None, limit: int, deadline: float) -> int:
    """Frames of a clip whose container does not tell, by decoding headers (bounded)."""
    cap, _ = _open(path, max_pixels)
    n = 0
    try:
        while n < limit and time.monotonic() < deadline and cap.grab():
            n += 1
    finally:
        cap.release()
    if n >= limit:
        logger.warning("%s: length unknown; frames sampled from the first %d", path, n)
    return n


def read_frames(
    path: str | os.PathLike,
    n: int,
    *,
    max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
    time_budget: float = DEFAULT_TIME_BUDGET,
    max_read: int = DEFAULT_MAX_READ,
) -> Iterator[Frame]:
    """Decode ``n`` frames spread evenly over a video, one at a time.

    Parameters
    ----------
    path : str or path-like
    n : int
        Frames wanted (fewer in a shorter clip); see :func:`frame_positions`.
    max_pixels : int or None, default=40_000_000
        Refuse videos whose frames are larger (from the header, before decoding).
    time_budget : float, default=60
        Seconds of decoding for this video; frames not reached by then are yielded with
        the reason.
    max_read : int, default=20000
        Frames decoded or skipped at most (counting a clip of unknown length included).

    Yields
    ------
    Frame
        ``(index, RGB uint8 array, "")`` for each decoded frame, ``(index, None, reason)``
        for each that could not be decoded.

    Raises
    ------
    VideoReadError
        The video cannot be read at all (not a regular file, empty, wrong ending, cannot be
        opened, frames too large, no frame at all).

    Examples
    --------
    >>> import os, tempfile, cv2, numpy as np
    >>> clip = os.path.join(tempfile.mkdtemp(), "clip.avi")
    >>> w = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    >>> for i in range(30):
    ...     _ = w.write(np.full((48, 64, 3), i * 8, np.uint8))
    >>> w.release()
    >>> [(f.index, f.image.shape) for f in read_frames(clip, 3)]
    [(5, (48, 64, 3)), (15, (48, 64, 3)), (25, (48, 64, 3))]
    """
    import cv2

    path = str(path)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    _check_file(path)
    deadline = time.monotonic() + float(time_budget)
    cap, info = _open(path, max_pixels)
    try:
        count = info.frame_count
        if count == 0:
            cap.release()
            count = _count_frames(path, max_pixels, max_read, deadline)
            if count == 0:
                raise VideoReadError(path, "no decodable frame (zero-frame or corrupt stream)")
            cap, info = _open(path, max_pixels)
        targets = frame_positions(count, int(n))
        current, budget, n_ok = 0, int(max_read), 0
        for i, target in enumerate(targets):
            if time.monotonic() > deadline or budget <= 0:
                why = (
                    f"{TIME_BUDGET_REASON} of {time_budget:g} s used up"
                    if budget > 0
                    else f"read limit of {max_read} frames reached"
                )
                yield from (Frame(t, None, why) for t in targets[i:])
                return
            image, error, current, budget = _read_at(cap, target, current, budget)
            if image is None:
                yield Frame(target, None, error)
                continue
            n_ok += 1
            yield Frame(target, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), "")
        if n_ok == 0 and targets:
            logger.debug("%s: none of %d sampled frames decoded", path, len(targets))
    finally:
        cap.release()


def _read_at(cap, target: int, current: int, budget: int):
    """Frame ``target`` (BGR) from a reader positioned at ``current``: seek when far,
    decode forward when near. Returns ``(image or None, reason, new position, budget)``."""
    import cv2

    if target - current > SEEK_GAP or target < current:
        if not cap.set(cv2.CAP_PROP_POS_FRAMES, target):
            return None, f"cannot seek to frame {target}", current, budget - 1
        current = target
    while current < target:
        budget -= 1
        if budget <= 0:
            return None, "read limit reached", current, budget
        if not cap.grab():
            return None, f"stream ends at frame {current} (truncated?)", target + 1, budget
        current += 1
    budget -= 1
    ok, image = cap.read()
    if not ok or image is None:
        return (
            None,
            f"frame {target} could not be decoded (truncated or corrupt stream)",
            (target + 1),
            budget,
        )
    return image, "", target + 1, budget
