"""``deepfeat faces`` and the video part of ``deepfeat predict``."""

from __future__ import annotations

import argparse
import glob
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import (
    EXIT_NOTHING_USABLE,
    EXIT_OK,
    UserError,
    own_output,
    progress_on,
    stage_line,
    write_failures,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def add_video_options(p: argparse.ArgumentParser, frames_help: str) -> None:
    p.add_argument("--frames", type=int, default=16, help=frames_help)
    p.add_argument(
        "--margin",
        type=float,
        default=0.3,
        help="context around the face box on each side, as a share of its longer side (0.3)",
    )
    p.add_argument("--size", type=int, default=224, help="side of the square face crops (224)")
    p.add_argument(
        "--whole-frame",
        action="store_true",
        help="no face detection: take the centre square of each frame (clips that are face "
        "crops already)",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds of decoding per video; frames not reached by then are recorded (60)",
    )


def cmd_faces(args: argparse.Namespace) -> int:
    """Videos → ``OUT/faces_<size>/`` + ``OUT/metadata.csv`` (+ ``OUT.errors.csv``)."""
    from ..video._faces import video_inputs, write_face_layout

    if args.frames < 1 or args.size < 16 or args.margin < 0 or args.time_budget <= 0:
        raise UserError("--frames >= 1, --size >= 16, --margin >= 0, --time-budget > 0")
    videos = video_inputs(args.inputs)
    if not videos:
        raise UserError("no videos (.mp4 .avi .mov .mkv .webm) in " + " ".join(args.inputs))
    out = Path(args.out)
    t0 = time.perf_counter()
    with own_output(out):
        meta, fails, counts = write_face_layout(
            videos,
            out,
            frames=args.frames,
            size=args.size,
            margin=args.margin,
            crop_faces=not args.whole_frame,
            time_budget=args.time_budget,
            progress=progress_on(args),
        )
    seconds = time.perf_counter() - t0
    where = write_failures(out, fails)
    n_labelled = int(meta["label"].astype(bool).sum()) if len(meta) else 0
    stage_line(
        f"{counts['frames']} face crops from {counts['videos'] - counts['failed_videos']} of "
        f"{counts['videos']} videos ({counts['processed']} processed, {counts['cached']} "
        f"reused) in {seconds:.1f} s; {n_labelled} crops labelled from metadata.json; "
        f"{len(fails)} failure records, {where}; wrote {out / 'metadata.csv'}"
    )
    return EXIT_OK if counts["frames"] else EXIT_NOTHING_USABLE


def split_inputs(specs: list[str]) -> tuple[list[str], list[str]]:
    """Prediction inputs as (image specs for ``resolve_input``, video files)."""
    from ..datasets._load import list_images
    from ..video._io import is_video_path, list_videos

    images, videos = [], []
    for spec in specs:
        path = Path(spec)
        if any(ch in spec for ch in "*?[") and not path.exists():
            found = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
            videos += [p for p in found if is_video_path(p)]
            if len(found) > len(videos) or not found:
                images.append(spec)  # images of the pattern (or its "no files match" error)
        elif path.is_dir() and not (path / "metadata.csv").is_file():
            found = list_videos(path)
            videos += found
            if not found or list_images(path) or (path / "manifest.csv").is_file():
                images.append(spec)
        elif is_video_path(path):
            videos.append(spec)
        else:
            images.append(spec)
    return images, videos


def video_rows(det, videos: list[str], args: argparse.Namespace) -> pd.DataFrame:
    """One row per video (``kind`` video), then, with ``--per-frame``, one per frame."""
    import numpy as np
    import pandas as pd

    t0 = time.perf_counter()
    res = det.predict_video(
        videos,
        frames=args.frames,
        aggregate=args.aggregate,
        crop_faces=not args.whole_frame,
        margin=args.margin,
        size=args.size,
        time_budget=args.time_budget,
        progress=progress_on(args),
    )
    frames = res.attrs["frames"]
    stage_line(
        f"videos: {int((res['error'] == '').sum())} of {len(res)} scored from "
        f"{int(res['frames_scored'].sum())} frames ({int(res['frames_failed'].sum())} sampled "
        f"frames failed) in {time.perf_counter() - t0:.1f} s; aggregate {args.aggregate}",
        stream=sys.stderr,
    )
    res.insert(1, "kind", "video")
    if not args.per_frame:
        return res
    fr = frames.drop(columns=["margin"], errors="ignore").copy()
    fr.insert(1, "kind", "frame")
    p = fr["probability_fake"].to_numpy(dtype=float)
    fr["label"] = np.where(np.isnan(p), "", np.where(p >= det.threshold, "fake", "real"))
    parts = []
    for i in range(len(res)):  # each video, then its frames
        parts += [res.iloc[[i]], fr[fr["video_index"] == i].drop(columns="video_index")]
    return pd.concat(parts, ignore_index=True)


def integer_columns(out: pd.DataFrame) -> pd.DataFrame:
    """Counts and frame numbers as integers (empty where a row kind has none)."""
    for col in ("frames_scored", "frames_failed", "frame"):
        if col in out.columns:
            out[col] = out[col].astype("Int64")
    return out
