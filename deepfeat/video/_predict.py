"""A verdict per video: frame scores of a trained detector, aggregated per clip.

:func:`predict_video` samples frames spread over each clip, crops the largest face of each
(the same crops, encoded the same way, as ``deepfeat faces`` writes for training), scores
them with a :class:`~deepfeat.DeepfakeDetector` and aggregates the frame probabilities
(:func:`aggregate_scores`). It is also the detector's method
``DeepfakeDetector.predict_video``.

The default aggregation, the mean of the frame probabilities, was chosen by measurement
(per-video ROC AUC of ``mean``, ``logit`` and ``topk`` on clips of DFDC face crops with a
grouped split, topic ``video`` of ``scripts/benchmarks/run.py``, ``docs/benchmarks_video.md``):
``mean`` was best on both clip sets, ``logit`` 0.001 / 0.009 lower, ``topk`` 0.017 / 0.066 lower.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..face._cropper import FaceCropper
from ._faces import face_frames, write_jpeg
from ._io import (
    AGGREGATIONS,
    DEFAULT_AGGREGATE,
    DEFAULT_MAX_FRAME_PIXELS,
    DEFAULT_TIME_BUDGET,
    VideoReadError,
)

logger = logging.getLogger(__name__)

__all__ = ["AGGREGATIONS", "DEFAULT_AGGREGATE", "aggregate_scores", "predict_video"]

_EPS = 1e-6


def _check_aggregate(how: str, top_k: float) -> None:
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {AGGREGATIONS}, got {how!r}")
    if not (isinstance(top_k, (int, float)) and 0.0 < top_k <= 1.0):
        raise ValueError(f"top_k must be a fraction in (0, 1], got {top_k!r}")


def selected_frames(proba: np.ndarray, how: str = DEFAULT_AGGREGATE, top_k: float = 0.25):
    """Indices of the finite frame scores an aggregation uses (all, or the ``top_k`` share
    with the highest probabilities, at least one)."""
    ok = np.flatnonzero(np.isfinite(proba))
    if how != "topk" or ok.size == 0:
        return ok
    k = max(1, math.ceil(top_k * ok.size))
    return ok[np.argsort(-proba[ok], kind="stable")[:k]]


def aggregate_scores(
    proba: Sequence[float] | np.ndarray, how: str = DEFAULT_AGGREGATE, top_k: float = 0.25
) -> float:
    """One probability of "fake" for a video from its frames' probabilities.

    Parameters
    ----------
    proba : sequence of float
        Frame probabilities; NaN (frames without a score) are left out.
    how : {"mean", "logit", "topk"}, default="mean"
        ``"mean"``: mean probability; ``"logit"``: the sigmoid of the mean log-odds (one
        confident frame weighs more than under ``"mean"``); ``"topk"``: mean probability of
        the ``top_k`` share of frames scored most fake (a swap visible in a few frames).
    top_k : float, default=0.25
        Share of frames for ``"topk"`` (at least one frame).

    Returns
    -------
    float
        NaN when no frame has a score.

    Examples
    --------
    >>> aggregate_scores([0.1, 0.2, 0.9], "mean")
    0.4
    >>> round(aggregate_scores([0.1, 0.2, 0.9], "logit"), 3)
    0.386
    >>> aggregate_scores([0.1, 0.2, 0.9, float("nan")], "topk", top_k=0.3)
    0.9
    """
    _check_aggregate(how, top_k)
    p = np.asarray(proba, dtype=float)
    p = p[selected_frames(p, how, top_k)]
    if p.size == 0:
        return math.nan
    if how == "logit":
        q = np.clip(p, _EPS, 1.0 - _EPS)
        z = float(np.mean(np.log(q) - np.log1p(-q)))
        return 1.0 / (1.0 + math.exp(-z))
    return float(np.round(np.mean(p), 12))


def _score_frames(detector: Any, frames: pd.DataFrame) -> pd.DataFrame:
    """Probability, margin and group contributions of the frame crops that were written."""
    have = frames["file"].astype(bool).to_numpy()
    if not have.any():
        return frames
    ex = detector.explain(frames.loc[have, "file"].tolist(), top=3)
    fails = getattr(detector, "extraction_failures_", None)
    reasons = {}
    if fails is not None and len(fails):
        reasons = {r["path"]: f"{r['stage']}: {r['reason']}" for r in fails.to_dict("records")}
    idx = frames.index[have]
    frames.loc[idx, "probability_fake"] = ex["proba"].to_numpy(dtype=float)
    for col in [c for c in ex.columns if c.startswith("contrib_")] + ["margin", "domain_score"]:
        frames.loc[idx, col] = ex[col].to_numpy(dtype=float)
    lost = idx[~np.isfinite(ex["proba"].to_numpy(dtype=float))]
    frames.loc[lost, "error"] = [
        "features: " + reasons.get(f, "no feature could be computed")
        for f in frames.loc[lost, "file"]
    ]
    return frames


def _video_row(video: str, fr: pd.DataFrame, how: str, top_k: float, threshold: float, why):
    p = fr["probability_fake"].to_numpy(dtype=float) if len(fr) else np.empty(0)
    pick = selected_frames(p, how, top_k)
    prob = aggregate_scores(p, how, top_k)
    row: dict[str, Any] = {
        "path": video,
        "probability_fake": prob,
        "label": "" if math.isnan(prob) else ("fake" if prob >= threshold else "real"),
        "frames_scored": int(np.isfinite(p).sum()),
        "frames_failed": int(len(fr) - np.isfinite(p).sum()),
        "aggregate": how,
    }
    for col in [c for c in fr.columns if c.startswith("contrib_")]:
        row[col] = float(fr[col].iloc[pick].mean()) if len(pick) else math.nan
    # Out-of-domain warning of the video: the median frame's (a few odd frames do not flag
    # a clip; a clip mostly unlike the training images is flagged).
    d = fr["domain_score"].to_numpy(dtype=float) if "domain_score" in fr.columns else p * np.nan
    d = d[np.isfinite(d)]
    row["domain_score"] = float(np.median(d)) if d.size else math.nan
    row["in_domain"] = bool(row["domain_score"] <= 1.0) if d.size else None
    if math.isnan(prob):
        errors = fr["error"][fr["error"] != ""] if len(fr) else pd.Series(dtype=str)
        row["error"] = why or (
            f"no frame scored of {len(fr)} sampled; first reason: {errors.iloc[0]}"
            if len(errors)
            else "no frame sampled"
        )
    else:
        row["error"] = ""
    return row


def predict_video(
    detector: Any,
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    frames: int = 16,
    aggregate: str = DEFAULT_AGGREGATE,
    top_k: float = 0.25,
    crop_faces: bool = True,
    margin: float = 0.3,
    size: int = 224,
    max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
    time_budget: float = DEFAULT_TIME_BUDGET,
    batch_videos: int = 8,
    progress: bool = False,
) -> pd.DataFrame:
    """Probability of "fake" per video, aggregated over face crops of sampled frames.

    Parameters
    ----------
    detector : DeepfakeDetector
        A fitted detector (as ``self`` when called as ``detector.predict_video(...)``).
    paths : path or sequence of paths
        Video files. A clip that cannot be read gives a row with its reason.
    frames : int, default=16
        Frames sampled per video, spread evenly (:func:`deepfeat.video._io.read_frames`).
    aggregate : {"mean", "logit", "topk"}, default="mean"
        See :func:`aggregate_scores`; the default was chosen by measurement.
    top_k : float, default=0.25
        Share of frames for ``aggregate="topk"``.
    crop_faces : bool, default=True
        Crop the largest face of each frame (MTCNN; frames without one are recorded as
        failed, never guessed); ``False`` takes the centre square (clips of face crops).
    margin, size
        Face crop margin and side in pixels (as ``deepfeat faces``; match the training set).
    max_pixels, time_budget
        Per-video decoding bounds.
    batch_videos : int, default=8
        Videos whose crops are scored together (crops live in a temporary folder meanwhile,
        so memory does not grow with the number of videos).
    progress : bool, default=False

    Returns
    -------
    pandas.DataFrame
        One row per video: ``path, probability_fake, label, frames_scored, frames_failed,
        aggregate``, ``domain_score`` / ``in_domain`` (the median frame's out-of-domain
        score; NaN / None without a domain model), ``contrib_<group>`` (mean log-odds
        contribution of each feature group
        over the frames the aggregate uses) and ``error`` (empty when scored).
        ``df.attrs["frames"]`` holds one row per sampled frame: ``video_index`` (the row of
        its video), ``path, frame, probability_fake, margin, contrib_*, error``.
    """
    from tqdm.auto import tqdm

    _check_aggregate(aggregate, top_k)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [str(p) for p in paths]
    cropper = FaceCropper(margin=margin, no_face="skip") if crop_faces else None
    rows, frame_tables = [], []
    bar = tqdm(total=len(paths), disable=not progress, unit="video")
    for start in range(0, len(paths), max(1, int(batch_videos))):
        batch = paths[start : start + max(1, int(batch_videos))]
        with tempfile.TemporaryDirectory(prefix="deepfeat-video-") as tmp:
            table, whole = [], {}
            for k, video in enumerate(batch):
                try:
                    for ff in face_frames(
                        video,
                        frames=frames,
                        size=size,
                        cropper=cropper,
                        max_pixels=max_pixels,
                        time_budget=time_budget,
                    ):
                        file = ""
                        if ff.crop is not None:
                            file = str(Path(tmp) / f"{k}_{ff.frame}.jpg")
                            write_jpeg(ff.crop, Path(file))
                        error = f"{ff.stage}: {ff.error}" if ff.error else ""
                        table.append(
                            {
                                "video_index": start + k,
                                "path": video,
                                "frame": ff.frame,
                                "file": file,
                                "error": error,
                            }
                        )
                except VideoReadError as exc:
                    whole[k] = exc.reason
                bar.update(1)
            columns = ["video_index", "path", "frame", "file", "error"]
            fr = pd.DataFrame(table, columns=columns)
            fr["probability_fake"] = np.nan
            fr = _score_frames(detector, fr)
        for k, video in enumerate(batch):
            mine = fr[fr["video_index"] == start + k]
            rows.append(_video_row(video, mine, aggregate, top_k, detector.threshold, whole.get(k)))
        frame_tables.append(fr.drop(columns=["file"]))
    bar.close()
    out = pd.DataFrame(rows)
    out.attrs["frames"] = pd.concat(frame_tables, ignore_index=True)
    n_bad = int(out["error"].astype(bool).sum())
    if n_bad:
        logger.warning("predict_video: %d of %d videos have no score (see error)", n_bad, len(out))
    return out
