"""Bounded video decoding: even sampling, seeking, and every kind of bad clip as a reason."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from conftest import write_clip

from deepfeat.video import _io as _video_io
from deepfeat.video._io import (
    VideoReadError,
    frame_positions,
    is_video_path,
    list_videos,
    read_frames,
    video_info,
)


def _levels(n: int, size=(48, 64)) -> list[np.ndarray]:
    """Flat frames whose grey level names the frame: 10 + 10 * (index mod 24)."""
    return [np.full((*size, 3), 10 + 10 * (i % 24), np.uint8) for i in range(n)]


def _level(image: np.ndarray) -> int:
    """The frame index mod 24 that a decoded frame shows (codecs shift grey by < 5)."""
    return round((float(image.mean()) - 10) / 10)


@pytest.mark.parametrize("total,n", [(1, 1), (10, 3), (100, 16), (7, 30), (1000, 5)])
def test_frame_positions_are_spread_evenly(total, n):
    pos = frame_positions(total, n)
    assert pos == sorted(set(pos)) and len(pos) == min(total, n)
    assert pos[0] >= 0 and pos[-1] < total
    if len(pos) > 2:  # equal steps up to rounding: no clustering at one end
        gaps = np.diff(pos)
        assert gaps.max() - gaps.min() <= 1
        assert pos[0] <= total / n and total - 1 - pos[-1] <= total / n


def test_frame_positions_of_nothing():
    assert frame_positions(0, 5) == [] and frame_positions(5, 0) == []


@pytest.mark.parametrize(("fourcc", "ext"), [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_read_frames_decodes_the_frames_it_names(tmp_path, fourcc, ext):
    clip = write_clip(tmp_path / f"clip{ext}", _levels(100), fourcc)
    got = list(read_frames(clip, 5))
    assert [f.index for f in got] == frame_positions(100, 5)
    for f in got:
        assert f.error == "" and f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8
        assert _level(f.image) == f.index % 24


def test_far_frames_are_reached_by_seeking(tmp_path, monkeypatch):
    """Frames far apart are sought, not decoded in between; still the right frames."""
    clip = write_clip(tmp_path / "long.avi", _levels(400))
    grabs = []
    import cv2

    real = cv2.VideoCapture

    class Counting:
        def __init__(self, *a):
            self._cap = real(*a)

        def grab(self):
            grabs.append(1)
            return self._cap.grab()

        def __getattr__(self, name):
            return getattr(self._cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", Counting)
    got = list(read_frames(clip, 4))
    assert [f.index for f in got] == [50, 150, 250, 350]
    assert [_level(f.image) for f in got] == [2, 6, 10, 14]  # index mod 24
    assert len(grabs) < 10  # sought, not decoded frame by frame


def test_one_frame_in_memory_at_a_time(tmp_path):
    clip = write_clip(tmp_path / "c.avi", _levels(30))
    it = read_frames(clip, 3)
    first = next(it)
    assert first.image is not None  # a generator: the rest is not decoded yet
    assert it.gi_frame is not None


def test_video_info(tmp_path):
    clip = write_clip(tmp_path / "c.avi", _levels(12), fps=10)
    info = video_info(clip)
    assert (info.frame_count, info.width, info.height) == (12, 64, 48) and info.fps == 10


def test_list_videos_is_recursive_and_only_videos(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("x.mp4", "a/y.AVI", "a/b/z.webm", "a/b/note.txt", "face.jpg"):
        (tmp_path / name).write_bytes(b"0")
    assert [os.path.relpath(p, tmp_path) for p in list_videos(tmp_path)] == [
        "a/b/z.webm",
        "a/y.AVI",
        "x.mp4",
    ]
    assert is_video_path("a.MKV") and is_video_path("b.mov") and not is_video_path("c.gif")


# ------------------------------------------------------------------ bad clips: a reason each


def _reason(path, **kw) -> str:
    with pytest.raises(VideoReadError) as info:
        list(read_frames(path, 4, **kw))
    return info.value.reason


def test_empty_file(tmp_path):
    (tmp_path / "e.mp4").write_bytes(b"")
    assert "empty" in _reason(tmp_path / "e.mp4")


def test_corrupt_file(tmp_path):
    (tmp_path / "g.mp4").write_bytes(np.random.default_rng(0).bytes(20000))
    assert "cannot open" in _reason(tmp_path / "g.mp4")


def test_truncated_mp4_has_no_index(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", _levels(60), "mp4v")
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])  # the moov index is at the end: cut away
    assert "cannot open" in _reason(clip)


def test_truncated_avi_reports_the_frames_it_lost(tmp_path):
    clip = write_clip(tmp_path / "c.avi", _levels(60))
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])
    got = list(read_frames(clip, 6))
    ok = [f for f in got if f.image is not None]
    lost = [f for f in got if f.image is None]
    assert ok and lost and len(got) == 6  # every sampled frame accounted for
    assert all(f.index > max(o.index for o in ok) for f in lost)
    assert all("truncated" in f.error or "could not be decoded" in f.error for f in lost)


def test_zero_frame_clip(tmp_path, monkeypatch):
    """A container that tells no length and has no frame: one reason, no loop."""
    clip = write_clip(tmp_path / "c.avi", _levels(3))
    checked = _video_io._checked

    def no_count(cap, path, max_pixels):
        cap_, info = checked(cap, path, max_pixels)
        return cap_, info._replace(frame_count=0)

    monkeypatch.setattr(_video_io, "_checked", no_count)
    monkeypatch.setattr(_video_io, "_count_frames", lambda *a: 0)
    assert "no decodable frame" in _reason(clip)


def test_clip_of_unknown_length_is_counted_within_bounds(tmp_path, monkeypatch):
    clip = write_clip(tmp_path / "c.avi", _levels(50))
    checked = _video_io._checked
    monkeypatch.setattr(
        _video_io,
        "_checked",
        lambda cap, path, mp: (lambda r: (r[0], r[1]._replace(frame_count=0)))(
            checked(cap, path, mp)
        ),
    )
    got = list(read_frames(clip, 5))
    assert [f.index for f in got] == frame_positions(50, 5)
    assert [_level(f.image) for f in got] == [f.index % 24 for f in got]
    got = list(read_frames(clip, 5, max_read=20))  # counting stops at 20 frames
    assert max(f.index for f in got) < 20


def test_huge_frames_are_refused_from_the_header(tmp_path):
    clip = write_clip(tmp_path / "c.avi", _levels(3, size=(480, 640)))
    assert "exceed max_pixels" in _reason(clip, max_pixels=640 * 480 - 1)
    assert len(list(read_frames(clip, 2, max_pixels=None))) == 2


def test_time_budget_bounds_a_long_clip(tmp_path):
    clip = write_clip(tmp_path / "c.avi", _levels(200))
    t0 = time.monotonic()
    got = list(read_frames(clip, 8, time_budget=0.0))
    assert time.monotonic() - t0 < 5
    assert len(got) == 8 and all(f.image is None and "time budget" in f.error for f in got)


def test_read_limit_bounds_the_frames_decoded(tmp_path):
    clip = write_clip(tmp_path / "c.avi", _levels(100))
    got = list(read_frames(clip, 10, max_read=3))
    assert len(got) == 10
    assert sum(f.image is not None for f in got) <= 3
    assert any("read limit" in f.error for f in got)


def test_wrong_extension_is_refused(tmp_path):
    clip = write_clip(tmp_path / "c.avi", _levels(5))
    renamed = tmp_path / "c.txt"
    clip.rename(renamed)
    assert "not a video file ending '.txt'" in _reason(renamed)


def test_unknown_codec(tmp_path):
    """A container whose codec tag no decoder knows: refused, or frames with reasons."""
    clip = write_clip(tmp_path / "c.avi", _levels(10))
    clip.write_bytes(clip.read_bytes().replace(b"MJPG", b"QQQQ"))
    try:
        got = list(read_frames(clip, 3))
    except VideoReadError as exc:
        assert exc.reason
    else:
        assert len(got) == 3 and all(f.image is None and f.error for f in got)


@pytest.mark.timeout(20)
def test_special_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    assert "not a regular file" in _reason(fifo)
    (tmp_path / "dir.mp4").mkdir()
    assert "not a regular file" in _reason(tmp_path / "dir.mp4")
    assert "cannot open" in _reason(tmp_path / "missing.mp4")


def test_n_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        list(read_frames(tmp_path / "x.mp4", 0))
