"""Videos to face crops: the ``faces_224/`` + ``metadata.csv`` layout (``deepfeat faces``).

:func:`face_frames` samples frames of one clip (:func:`deepfeat.video._io.read_frames`) and
cuts the largest face of each with :class:`~deepfeat.FaceCropper`, resized to a square of
``size`` pixels; :func:`write_face_layout` writes them as the DFDC layout that
:func:`deepfeat.load_dataset` reads (``layout="dfdc"``, one row per frame, the source video
as the group). Both the layout and per-video prediction (:mod:`deepfeat.video`) use the same
crops, encoded the same way (JPEG quality 75, 4:2:0, as the DFDC ``faces_224`` crops are).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .._lock import temporary_name
from ..face._cropper import FaceCropper, _center_box, _extract, _square_box
from ..features._cache import file_digest
from ._io import (
    DEFAULT_MAX_FRAME_PIXELS,
    DEFAULT_TIME_BUDGET,
    TIME_BUDGET_REASON,
    VideoReadError,
    is_video_path,
    list_videos,
    read_frames,
)

logger = logging.getLogger(__name__)

__all__ = ["FaceFrame", "face_frames", "video_inputs", "write_face_layout"]

#: Columns of the layout's ``metadata.csv`` (the DFDC ones, then ``frame`` and ``face_score``).
LAYOUT_COLUMNS = [
    "videoname",
    "original_width",
    "original_height",
    "label",
    "original",
    "frame",
    "face_score",
]

#: Columns of the failure list: the extractor's ``path, stage, reason`` plus ``frame``.
FAILURE_COLUMNS = ["path", "frame", "stage", "reason"]

#: JPEG quality of written crops (the DFDC ``faces_224`` crops are IJG quality 75, 4:2:0).
JPEG_QUALITY = 75

_JOURNAL = ".faces_journal.jsonl"


class FaceFrame(NamedTuple):
    """One sampled frame of a clip: the square crop (``size``² RGB) or ``None`` and why;
    the crop's side in the frame before resizing and the face score (NaN without MTCNN)."""

    frame: int
    crop: np.ndarray | None
    side: int
    score: float
    stage: str = ""
    error: str = ""


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if img.shape[0] == size and img.shape[1] == size:
        return img
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def face_frames(
    path: str | os.PathLike,
    *,
    frames: int = 16,
    size: int = 224,
    cropper: FaceCropper | None = None,
    max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
    time_budget: float = DEFAULT_TIME_BUDGET,
) -> Iterator[FaceFrame]:
    """Square face crops of ``frames`` frames spread over a clip, one frame at a time.

    Parameters
    ----------
    path : str or path-like
    frames : int, default=16
    size : int, default=224
        Side of the square crops (area-interpolated down, bilinear up).
    cropper : FaceCropper or None
        How faces are found and framed (its ``margin``, ``select`` …; ``no_face`` is taken
        as ``"skip"``: a frame without a face is recorded, never guessed). ``None`` takes
        the centre square of every frame instead, for clips that are face crops already.
    max_pixels, time_budget
        Bounds of :func:`deepfeat.video._io.read_frames`.

    Yields
    ------
    FaceFrame
        Failed frames have ``crop=None`` and a ``stage`` (``decode`` or ``face``) and reason.

    Raises
    ------
    VideoReadError
        The clip cannot be read at all.
    """
    for fr in read_frames(path, frames, max_pixels=max_pixels, time_budget=time_budget):
        if fr.image is None:
            yield FaceFrame(fr.index, None, 0, math.nan, "decode", fr.error)
            continue
        height, width = fr.image.shape[:2]
        if cropper is None:
            box, score = _center_box(height, width), math.nan
        else:
            faces = cropper.detect(fr.image)
            if not faces:
                yield FaceFrame(fr.index, None, 0, math.nan, "face", "no face found (MTCNN)")
                continue
            box = _square_box(faces[0], height, width, float(cropper.margin), cropper.border)
            score = faces[0].score
        crop = np.ascontiguousarray(_extract(fr.image, box))
        yield FaceFrame(fr.index, _resize(crop, size), box[2] - box[0], float(score))


def write_jpeg(image: np.ndarray, path: Path) -> None:
    """Write an RGB crop as the layout's JPEG, atomically (a temporary name, then rename)."""
    from PIL import Image

    tmp = temporary_name(path)
    try:
        Image.fromarray(image).save(tmp, format="JPEG", quality=JPEG_QUALITY)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def video_inputs(specs: Iterable[str | os.PathLike]) -> list[str]:
    """Videos named by files and folders (folders searched recursively for video endings;
    files kept as given, so that one with another ending is refused with a reason)."""
    out: list[str] = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            out += list_videos(p)
        elif p.exists() or p.is_symlink() or is_video_path(p):
            out.append(str(p))
        else:
            raise FileNotFoundError(f"input not found: {spec}")
    return out


def _dfdc_labels(video: str, cache: dict[str, dict], failures: list[dict]) -> dict:
    """The entry of ``video`` in the DFDC ``metadata.json`` beside it (or ``{}``)."""
    folder = os.path.dirname(os.path.abspath(video))
    if folder not in cache:
        meta = Path(folder) / "metadata.json"
        cache[folder] = {}
        if meta.is_file():
            try:
                if meta.stat().st_size > 256 << 20:
                    raise ValueError("larger than 256 MiB")
                data = json.loads(meta.read_text(encoding="utf-8"))
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object of video names")
                cache[folder] = data
            except (OSError, ValueError) as exc:
                failures.append(_failure(str(meta), None, "labels", f"unreadable: {exc}"))
    entry = cache[folder].get(os.path.basename(video), {})
    return entry if isinstance(entry, dict) else {}


def _label_of(entry: dict) -> tuple[str, str]:
    label = str(entry.get("label", "")).strip().upper()
    if label not in ("REAL", "FAKE"):
        return "", ""
    original = entry.get("original") if label == "FAKE" else None
    return label, str(original) if isinstance(original, str) else ""


def _failure(path: str, frame: int | None, stage: str, reason: str) -> dict[str, Any]:
    return {"path": path, "frame": frame, "stage": stage, "reason": reason}


def settings_key(frames: int, size: int, cropper: FaceCropper | None, max_pixels) -> str:
    """Digest of everything a crop depends on besides the video's bytes."""
    params = None if cropper is None else {k: repr(v) for k, v in cropper.get_params().items()}
    text = json.dumps([frames, size, params, max_pixels, JPEG_QUALITY], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Journal:
    """One JSON line per finished video: the cache that makes a run resumable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, dict] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self.done[rec["key"]] = rec
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a killed run: that video is done again

    def add(self, rec: dict) -> None:
        self.done[rec["key"]] = rec
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _lookup(journal: _Journal, video: str, settings: str, crop_prefix: Path):
    """``(key, record)``: the journal's record of this video when all its crops are on
    disk (else ``None``: to do). A file that cannot be read has no key; its record holds
    the reason and is not journaled (I/O failures are tried again next run)."""
    try:
        key = f"{file_digest(video)}-{settings}"
    except OSError as exc:
        return None, {"rows": [], "failures": [_failure(video, None, "open", str(exc))]}
    rec = journal.done.get(key)
    if rec is not None and all(
        crop_prefix.with_name(f"{crop_prefix.name}_{r['frame']}.jpg").is_file() for r in rec["rows"]
    ):
        return key, rec
    return key, None


def _one_video(video, stem, faces_dir, frames, size, cropper, max_pixels, time_budget):
    rows, fails = [], []
    try:
        for ff in face_frames(
            video,
            frames=frames,
            size=size,
            cropper=cropper,
            max_pixels=max_pixels,
            time_budget=time_budget,
        ):
            if ff.crop is None:
                fails.append(_failure(video, ff.frame, ff.stage, ff.error))
                continue
            write_jpeg(ff.crop, faces_dir / f"{stem}_{ff.frame}.jpg")
            rows.append({"frame": ff.frame, "side": ff.side, "score": ff.score})
    except VideoReadError as exc:
        fails.append(_failure(video, None, "open", exc.reason))
    return rows, fails


def write_face_layout(
    videos: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    frames: int = 16,
    size: int = 224,
    margin: float = 0.3,
    crop_faces: bool = True,
    max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
    time_budget: float = DEFAULT_TIME_BUDGET,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Cut face crops out of videos into ``out/faces_224/`` + ``out/metadata.csv``.

    Writes ``out/faces_<size>/<video stem>_<frame>.jpg`` for every sampled frame with a
    face, and ``out/metadata.csv`` with one row per crop: ``videoname, original_width,
    original_height, label, original, frame, face_score`` (``original_width/height``: the
    crop's side in the frame before resizing, as in DFDC's file). ``label`` (REAL/FAKE) and
    ``original`` come from a DFDC ``metadata.json`` in the video's folder when it has an entry
    for the file, else are empty. :func:`deepfeat.load_dataset` reads the folder as the
    ``dfdc`` layout, grouping every frame with its source video.

    Resumable: each finished video is recorded in ``out/.faces_journal.jsonl`` under the
    sha256 of its bytes and the settings, and skipped by the next run with the same
    settings. Nothing is written outside ``out``.

    Parameters
    ----------
    videos : sequence of paths
        Video files (see :func:`video_inputs` for folders).
    out : path
        Output folder (created).
    frames : int, default=16
        Frames sampled per video, spread evenly.
    size : int, default=224
        Side of the square crops.
    margin : float, default=0.3
        :class:`~deepfeat.FaceCropper` margin around the face box.
    crop_faces : bool, default=True
        ``False`` takes the centre square of each frame (clips already cropped to a face).
    max_pixels, time_budget
        Per-video bounds of :func:`deepfeat.video._io.read_frames`.
    progress : bool, default=False
        A tqdm bar over the videos.

    Returns
    -------
    metadata : pandas.DataFrame
        The rows of ``metadata.csv`` for these videos.
    failures : pandas.DataFrame
        ``path, frame, stage, reason``: every video (``frame`` empty) or frame that gave no
        crop; stages ``open``, ``decode``, ``face``, ``name``, ``labels``.
    counts : dict
        ``videos``, ``processed``, ``cached``, ``frames``, ``failed_videos``.
    """
    from tqdm.auto import tqdm

    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ValueError(f"frames must be a positive int, got {frames!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an int >= 16, got {size!r}")
    out = Path(out)
    faces_dir = out / f"faces_{size}"
    faces_dir.mkdir(parents=True, exist_ok=True)
    cropper = FaceCropper(margin=margin, no_face="skip") if crop_faces else None
    if cropper is not None:
        cropper._check_params()
    settings = settings_key(int(frames), int(size), cropper, max_pixels)
    journal = _Journal(out / _JOURNAL)
    labels: dict[str, dict] = {}
    rows: list[dict] = []
    fails: list[dict] = []
    stems: dict[str, str] = {}
    counts = dict(videos=len(videos), processed=0, cached=0, frames=0, failed_videos=0)
    for video in tqdm(list(map(str, videos)), disable=not progress, unit="video"):
        stem = Path(video).stem
        if stem in stems:
            fails.append(
                _failure(
                    video, None, "name", f"same name stem as {stems[stem]}: crops would collide"
                )
            )
            counts["failed_videos"] += 1
            continue
        stems[stem] = video
        key, rec = _lookup(journal, video, f"{settings}-{stem}", faces_dir / stem)
        counts["cached"] += rec is not None and key is not None
        if rec is None:
            got, bad = _one_video(
                video, stem, faces_dir, int(frames), int(size), cropper, max_pixels, time_budget
            )
            rec = {"key": key, "video": video, "rows": got, "failures": bad}
            if not any(TIME_BUDGET_REASON in f["reason"] for f in bad):
                journal.add(rec)  # a clip cut short by a busy machine is tried again
            counts["processed"] += 1
        label, original = _label_of(_dfdc_labels(video, labels, fails))
        for r in rec["rows"]:
            rows.append(
                {
                    "videoname": os.path.basename(video),
                    "original_width": r["side"],
                    "original_height": r["side"],
                    "label": label,
                    "original": original,
                    "frame": r["frame"],
                    "face_score": r["score"],
                }
            )
        fails += [{**f, "path": video} for f in rec["failures"]]
        counts["frames"] += len(rec["rows"])
        counts["failed_videos"] += not rec["rows"]
    meta = pd.DataFrame(rows, columns=LAYOUT_COLUMNS)
    tmp = temporary_name(out / "metadata.csv")
    try:
        meta.to_csv(tmp, index=False)
        os.replace(tmp, out / "metadata.csv")
    finally:
        tmp.unlink(missing_ok=True)
    failures = pd.DataFrame(fails, columns=FAILURE_COLUMNS)
    failures["frame"] = failures["frame"].astype("Int64")
    logger.info(
        "faces: %d crops from %d videos (%d cached), %d failure records",
        counts["frames"],
        counts["videos"],
        counts["cached"],
        len(failures),
    )
    return meta, failures, counts
