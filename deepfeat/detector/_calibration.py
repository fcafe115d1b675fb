"""Calibration of ``DeepfakeDetector``: the choices (light: the CLI parser reads them) and the maps.

Nothing here imports scikit-learn at module level.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._schema import ModelFileError

__all__ = ["CALIBRATIONS", "DEFAULT_CALIBRATION", "Calibrator", "cross_fitted", "logit"]

#: Calibration maps ``DeepfakeDetector(calibration=...)`` accepts (besides ``None``).
CALIBRATIONS = ("sigmoid", "isotonic", "smooth")
#: The default, chosen by measurement: out-of-sample ECE and Brier on DFDC and k140 over
#: grouped folds (``scripts/benchmarks/bench_calibration.py``; numbers in docs/benchmarks.md).
DEFAULT_CALIBRATION = "sigmoid"


class Calibrator:
    """Monotone map from raw probability to calibrated probability, JSON-serialisable.

    ``sigmoid``: Platt scaling on the log-odds (two numbers). ``isotonic``: the isotonic
    step function (coarse: as many distinct outputs as steps). ``smooth``: the isotonic fit
    made strictly increasing by joining the centres of its steps with straight lines (and
    continuing the first and last segment to 0 and 1 with the isotonic end values as
    bounds), so neighbouring scores keep their order instead of tying on a step.
    """

    def __init__(self, kind: str, params: dict[str, list[float] | float]) -> None:
        self.kind = kind
        self.params = params

    @classmethod
    def fit(cls, kind: str, proba: np.ndarray, y: np.ndarray) -> Calibrator:
        proba = np.clip(np.asarray(proba, dtype=float), _CLIP, 1 - _CLIP)
        if kind in ("isotonic", "smooth"):
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(proba, y)
            x, v = iso.X_thresholds_, iso.y_thresholds_
            if kind == "smooth":
                x, v = step_centres(x, v)
            return cls(kind, {"x": x.tolist(), "y": v.tolist()})
        from sklearn.linear_model import LogisticRegression

        logit = np.log(proba / (1 - proba)).reshape(-1, 1)
        lr = LogisticRegression(C=1e4).fit(logit, y)
        return cls(kind, {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])})

    def __call__(self, proba: np.ndarray) -> np.ndarray:
        proba = np.clip(np.asarray(proba, dtype=float), _CLIP, 1 - _CLIP)
        if self.kind in ("isotonic", "smooth"):
            return np.interp(proba, self.params["x"], self.params["y"])
        z = self.params["a"] * np.log(proba / (1 - proba)) + self.params["b"]
        return 1.0 / (1.0 + np.exp(-z))

    def margin_at(self, threshold: float) -> float:
        """The smallest raw log-odds whose calibrated probability reaches ``threshold``.

        A raw score at or above it is calibrated to at least ``threshold`` (raw
        probabilities are clipped to ``[1e-6, 1 - 1e-6]`` first, as in :meth:`__call__`):
        ``-inf`` when every score reaches it, ``inf`` when none does.

        >>> Calibrator("sigmoid", {"a": 2.0, "b": 1.0}).margin_at(0.5)
        -0.5
        >>> Calibrator("isotonic", {"x": [0.1, 0.9], "y": [0.0, 1.0]}).margin_at(0.5)
        0.0
        """
        if self.kind in ("isotonic", "smooth"):
            x, y = np.asarray(self.params["x"]), np.asarray(self.params["y"])
            if y[0] >= threshold:
                return -math.inf
            if y[-1] < threshold:
                return math.inf
            i = int(np.argmax(y >= threshold))  # y is non-decreasing; i >= 1
            share = (threshold - y[i - 1]) / (y[i] - y[i - 1])
            return logit(float(x[i - 1] + share * (x[i] - x[i - 1])))
        a, b = float(self.params["a"]), float(self.params["b"])
        lo, hi = logit(_CLIP), logit(1 - _CLIP)
        if a <= 0:  # a constant (or reversed) map: decided by its value at the top score
            return -math.inf if a * hi + b >= logit(threshold) else math.inf
        margin = (logit(threshold) - b) / a
        return -math.inf if margin <= lo else math.inf if margin > hi else margin

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.params}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibrator:
        kind = data.get("kind")
        if kind in ("isotonic", "smooth"):
            x, y = data.get("x"), data.get("y")
            if not (isinstance(x, list) and isinstance(y, list) and len(x) == len(y) and x):
                raise ModelFileError(f"card: malformed {kind} calibration map")
            return cls(kind, {"x": [float(v) for v in x], "y": [float(v) for v in y]})
        if kind == "sigmoid":
            return cls(kind, {"a": float(data["a"]), "b": float(data["b"])})
        raise ModelFileError(f"card: unknown calibration kind {kind!r}")


_CLIP = 1e-6


def logit(p: float) -> float:
    """``log(p / (1 - p))``, infinite at 0 and 1."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p / (1.0 - p))


def step_centres(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots of the piecewise-linear map through the centres of an isotonic step function.

    ``x, v`` are sklearn's ``X_thresholds_, y_thresholds_`` (each step appears as its two
    end points). Each step becomes one knot at its centre; the map starts at (0, first
    level) and ends at (1, last level), so it is increasing and continuous.
    """
    levels, start = np.unique(v, return_index=True)
    order = np.argsort(start)
    cx, cy = [], []
    for k in order:
        on = v == levels[k]
        cx.append(float((x[on].min() + x[on].max()) / 2))
        cy.append(float(levels[k]))
    cx, cy = np.asarray(cx), np.asarray(cy)
    keep = np.r_[True, np.diff(cx) > 0]
    cx, cy = cx[keep], cy[keep]
    return np.r_[0.0, cx, 1.0], np.r_[cy[0], cy, cy[-1]]


def cross_fitted(
    kind: str, raw: np.ndarray, y: np.ndarray, groups: np.ndarray, random_state: Any
) -> tuple[np.ndarray | None, int]:
    """Out-of-sample calibrated probabilities of the validation fold (grouped cross-fitting).

    Each grouped part of the validation fold is calibrated by a map fitted on the other
    parts. Returns ``(None, 0)`` when the fold is too small for two parts with both classes.
    """
    from ..metrics import grouped_splits

    n_splits = int(min(5, len(np.unique(groups)), np.bincount(y, minlength=2).min()))
    if n_splits < 2:
        return None, 0
    out = np.full(len(y), np.nan)
    for train, test in grouped_splits(y, groups, n_splits=n_splits, random_state=random_state):
        if len(np.unique(y[train])) < 2:
            return None, 0
        out[test] = Calibrator.fit(kind, raw[train], y[train])(raw[test])
    return out, n_splits
