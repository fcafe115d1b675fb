"""What a verdict says about one image: contributions per feature group, and whether to trust it.

:func:`explanation` builds the table of :meth:`DeepfakeDetector.explain` from a feature
table: exact TreeSHAP contributions summed per feature group, the top features, and the
out-of-domain columns (:mod:`deepfeat.detector._domain`). Only the detector calls it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._schema import GROUPS, feature_group
from ._calibration import logit
from ._stacking import model_matrix

__all__ = [
    "domain_scores",
    "explanation",
    "no_domain_model",
    "threshold_for_fpr",
    "threshold_margin",
    "with_sign_of",
]


def threshold_margin(det: Any) -> float:
    """The trees' log-odds at which ``det`` starts to say fake.

    ``predict`` compares the calibrated probability with ``threshold``; carried back through
    the (monotone) calibration map, that is one raw margin. ``decision_function`` and the
    ``margin`` of ``explain`` are measured from it, so that they are positive exactly where
    ``predict`` says fake.
    """
    threshold = float(det.threshold)
    cal = det.calibrator_
    return logit(threshold) if cal is None else cal.margin_at(threshold)


def threshold_for_fpr(proba: np.ndarray, y: Any, fpr: float) -> float:
    """The lowest threshold flagging at most ``fpr`` of the real (0) rows' probabilities."""
    y = np.asarray(y).astype(int)
    real = np.sort(proba[(y == 0) & np.isfinite(proba)])
    if real.size == 0:
        raise ValueError("set_threshold_for_fpr needs real (label 0) samples")
    k = int(np.floor(fpr * real.size))  # number of reals allowed above the threshold
    threshold = float(np.nextafter(real[real.size - k - 1], np.inf)) if k < real.size else 0.0
    return min(1.0, threshold)


def no_domain_model() -> ValueError:
    """The error of a domain query on a detector without a domain model."""
    return ValueError(
        "this detector has no out-of-domain model: it was trained with domain_fpr=None or "
        "saved by deepfeat before 0.3; retrain it to get domain_score / in_domain"
    )


def domain_scores(det: Any, values: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Domain score per row of a feature matrix (NaN where no feature was computed)."""
    dom = getattr(det, "domain_", None)
    if dom is None:
        raise no_domain_model()
    scores = dom.score(values)
    scores[empty] = np.nan
    return scores


def with_sign_of(margin: np.ndarray, proba: np.ndarray, threshold: float) -> np.ndarray:
    """``margin`` with the sign of ``proba >= threshold`` where rounding put a score that
    sits on the threshold (``set_threshold_for_fpr`` puts it one ulp above a score) on the
    other side: moved to the smallest number of the right sign, nothing else changes."""
    margin, tiny = np.asarray(margin, dtype=float), np.nextafter(0.0, 1.0)
    fake, known = proba >= threshold, np.isfinite(proba)
    out = np.where(known & fake & (margin <= 0), tiny, margin)
    return np.where(known & ~fake & (margin >= 0), -tiny, out)


def explanation(det: Any, values: np.ndarray, top: int) -> pd.DataFrame:
    """The :meth:`DeepfakeDetector.explain` table of feature matrix ``values``."""
    import xgboost as xgb

    empty = np.isnan(values).all(axis=1)
    M = model_matrix(values, det.columns_, det.model_columns_, det.probe_)
    contrib = det.model_.get_booster().predict(
        xgb.DMatrix(M), pred_contribs=True, validate_features=False
    )
    contrib[empty] = np.nan  # an input without features has no score to explain
    names = list(det.model_columns_)
    full = pd.DataFrame(contrib[:, :-1], columns=names)
    shift = threshold_margin(det)  # the margin is measured from the decision threshold
    proba = det._proba_from_matrix(M)
    proba[empty] = np.nan
    margin = with_sign_of(contrib.sum(axis=1) - shift, proba, float(det.threshold))
    out = pd.DataFrame({"margin": margin, "proba": proba})
    groups = [feature_group(n) if feature_group(n) in GROUPS else "other" for n in names]
    for group in dict.fromkeys(groups):
        cols = [n for n, g in zip(names, groups) if g == group]
        out[f"contrib_{group}"] = full[cols].sum(axis=1, skipna=False)
    out["contrib_bias"] = contrib[:, -1] - shift
    order = np.argsort(-np.abs(contrib[:, :-1]), axis=1)[:, :top]
    out["top_features"] = [
        [] if empty[i] else [(names[j], float(contrib[i, j])) for j in order[i]]
        for i in range(len(M))
    ]
    dom = getattr(det, "domain_", None)
    if dom is None:
        out["domain_score"] = np.nan
        out["in_domain"] = pd.array([pd.NA] * len(out), dtype="boolean")
        out["domain_reasons"] = [[] for _ in range(len(out))]
    else:
        scores, deviations = dom.assess(values, top=top)  # one standardisation for both
        scores[empty] = np.nan
        out["domain_score"] = scores
        flags = pd.array(scores <= 1.0, dtype="boolean")
        flags[empty] = pd.NA
        out["in_domain"] = flags
        out["domain_reasons"] = [[] if empty[i] else deviations[i] for i in range(len(out))]
    out.attrs["contributions"] = full
    out.attrs["values"] = pd.DataFrame(M, columns=names)
    return out
