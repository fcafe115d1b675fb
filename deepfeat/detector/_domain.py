"""Out-of-domain warning: how unlike the training images an input is, in feature space.

A detector trained on one kind of image (say 224 px JPEG face crops of one video source)
gives confident verdicts on anything, including images it has never seen the like of,
where its verdicts are no better than chance. :class:`DomainModel` learns what the
training features look like and scores how far a new row lies from them:

1. every feature is robustly standardised (median, inter-quartile range; a column that is
   constant in training gets a small floor, so any departure from it counts) and clipped
   to ``±clip``; a value where training had none, or none where training always had one,
   counts as a full ``clip``;
2. the standardised rows are projected on their top principal components: the Mahalanobis
   distance inside that subspace (Hotelling's T²) scores a row unusual *along* the usual
   directions, the squared residual outside it (SPE, the Q statistic) a row unusual in a
   direction the training data never varied in;
3. each part is scaled by its ``1 - fpr`` quantile over **held-out** training rows
   (grouped folds: each row scored by a model fitted without its group), the score is the
   larger of the two, divided by the same quantile of the held-out scores. So
   ``domain_score <= 1`` means "in domain", and about ``fpr`` of new images *like the
   training ones* are flagged.

Everything is a handful of arrays, saved as JSON in the model card (nothing pickled).
The choice of this score over k-nearest-neighbour distances and an isolation forest, and
of its settings, was measured in ``scripts/benchmarks/bench_generalise.py`` (``docs/
benchmarks_generalisation.md``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.utils.extmath import randomized_svd

logger = logging.getLogger(__name__)

__all__ = ["DomainModel", "fit_domain"]

#: Standardised values are clipped to this magnitude (one column cannot swamp the score).
CLIP = 20.0
#: A training column whose values are missing in more (or fewer) than this share is
#: treated as "always missing" ("never missing") for the missing-value rule.
_MISSING_SHARE = 0.01


class DomainModel:
    """What training rows look like, and how far a new row is from them.

    Build it with :func:`fit_domain` (or :meth:`fit`); score with :meth:`score`
    (``<= 1``: in domain). Pure numpy; :meth:`to_json` / :meth:`from_json` for the card.

    Parameters
    ----------
    n_components : int, default=32
        Principal components of the standardised training rows kept for T².
    clip : float, default=20.0
        Largest magnitude of a standardised value.

    Attributes
    ----------
    columns_ : list of str
    center_, scale_, missing_ : numpy.ndarray
        Per-column median, robust scale and share of missing values in training.
    mean_ : numpy.ndarray
        Mean of the standardised training rows.
    components_, variances_ : numpy.ndarray
        Principal directions (``k × d``) and their variances.
    t2_norm_, spe_norm_ : float
        Scales of T² and SPE: their medians over the training rows after :meth:`fit`,
        their held-out ``1 - fpr`` quantiles after :func:`fit_domain`.
    threshold_ : float
        Raw score at which :meth:`score` returns 1 (1.0 until :func:`fit_domain` sets it).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 6))
    >>> dom = DomainModel(n_components=3).fit(X, [f"f{i}" for i in range(6)])
    >>> bool(dom.score(X[:1])[0] < dom.score(X[:1] + 10)[0])
    True
    """

    def __init__(self, n_components: int = 32, clip: float = CLIP) -> None:
        self.n_components = n_components
        self.clip = clip

    # ------------------------------------------------------------------ fitting
    def fit(self, X: np.ndarray, columns: list[str]) -> DomainModel:
        """Learn the training rows ``X`` (NaN allowed) with feature names ``columns``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(columns):
            raise ValueError(f"X has shape {X.shape} for {len(columns)} columns")
        if len(X) < 3:
            raise ValueError("the domain model needs at least 3 training rows")
        self.columns_ = [str(c) for c in columns]
        missing = np.isnan(X)
        self.missing_ = missing.mean(axis=0)
        q1, center, q3 = _quartiles(X, missing)
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            std = np.nanstd(X, axis=0)
        center = np.where(np.isfinite(center), center, 0.0)
        iqr = np.where(np.isfinite(q3 - q1), (q3 - q1) / 1.349, 0.0)
        scale = np.where(iqr > 0, iqr, np.nan_to_num(std))
        # Floor: a column (nearly) constant in training flags any real departure from it.
        self.center_ = center
        self.scale_ = np.maximum(scale, 1e-6 + 1e-3 * np.abs(center))
        Z = self._standardise(X)
        self.mean_ = Z.mean(axis=0)
        # At least one direction is left outside the subspace, for the residual (SPE).
        k = int(max(1, min(self.n_components, len(X) - 1, X.shape[1] - 1)))
        # Only the top k directions are needed: a seeded randomized SVD (Halko et al.) in
        # float32 is exact to ~0.1 % here and 10-20× faster than a full SVD of a
        # 4000 × 1200 table.
        centred = (Z - self.mean_).astype(np.float32)
        _, s, vt = randomized_svd(centred, k, n_iter=4, random_state=0)
        s, vt = s.astype(np.float64), vt.astype(np.float64)
        variances = s**2 / (len(X) - 1)
        keep = variances > 1e-12 * max(float(variances.max(initial=0.0)), 1e-300)
        self.components_ = vt[keep]
        self.variances_ = variances[keep]
        t2, spe = self._parts(Z)
        # Floors: a subspace that holds (nearly) all the variance leaves a residual of
        # rounding noise, which must not be read as a departure.
        floor = 1e-6 * max(float(np.mean((Z - self.mean_) ** 2)), 1e-12)
        self.t2_norm_ = max(float(np.median(t2)), 1e-12)
        self.spe_norm_ = max(float(np.median(spe)), floor)
        self.threshold_ = 1.0
        return self

    # ------------------------------------------------------------------ scoring
    def parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """T² (mean squared whitened coordinate in the subspace) and SPE per row."""
        return self._parts(self._standardise(self._check(X)))

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        """The larger of T² and SPE, each over its scale (``t2_norm_``, ``spe_norm_``)."""
        t2, spe = self.parts(X)
        return np.maximum(t2 / self.t2_norm_, spe / self.spe_norm_)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Domain score per row: ``raw_score / threshold_`` (``<= 1``: in domain)."""
        return self.raw_score(X) / self.threshold_

    def deviations(self, X: np.ndarray, top: int = 3) -> list[list[tuple[str, float]]]:
        """Per row, the ``top`` features furthest from training (standardised, signed)."""
        return self.assess(X, top, only_outside=False)[1]

    def assess(
        self, X: np.ndarray, top: int = 3, only_outside: bool = True
    ) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
        """:meth:`score` and :meth:`deviations` from one standardisation of ``X``.

        With ``only_outside`` the deviations are listed for out-of-domain rows only
        (score > 1; the others get an empty list).
        """
        Z = self._standardise(self._check(X))
        t2, spe = self._parts(Z)
        scores = np.maximum(t2 / self.t2_norm_, spe / self.spe_norm_) / self.threshold_
        listed = scores > 1.0 if only_outside else np.ones(len(Z), dtype=bool)
        out: list[list[tuple[str, float]]] = [[] for _ in range(len(Z))]
        for i in np.flatnonzero(listed):
            order = np.argsort(-np.abs(Z[i]))[:top]
            out[i] = [(self.columns_[j], float(Z[i, j])) for j in order if abs(Z[i, j]) > 3.0]
        return scores, out

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.columns_):
            raise ValueError(
                f"the domain model expects {len(self.columns_)} feature columns, got "
                f"an array of shape {X.shape}"
            )
        return X

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        missing = np.isnan(X)
        with np.errstate(invalid="ignore", over="ignore"):
            Z = (X - self.center_) / self.scale_
        Z = np.clip(np.where(missing, 0.0, Z), -self.clip, self.clip)
        mismatch = (missing & (self.missing_ < _MISSING_SHARE)) | (
            ~missing & (self.missing_ > 1 - _MISSING_SHARE)
        )
        return np.where(mismatch, self.clip, Z)

    def _parts(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = Z - self.mean_
        proj = centred @ self.components_.T
        t2 = (proj**2 / self.variances_).sum(axis=1) / max(len(self.variances_), 1)
        spe = ((centred - proj @ self.components_) ** 2).sum(axis=1) / Z.shape[1]
        return t2, spe

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        """The fitted state as plain JSON values (for the model card).

        Arrays are written with 9 significant digits (float32 precision, a third of the
        characters of full ``repr``); :meth:`score` of the reloaded model agrees to ~1e-7.
        """

        def short(a: np.ndarray) -> list:
            return np.vectorize(lambda v: float(f"{v:.9g}"), otypes=[float])(a).tolist()

        return {
            "method": "pca_t2_spe",
            "n_components": int(self.n_components),
            "clip": float(self.clip),
            "columns": list(self.columns_),
            "center": short(self.center_),
            "scale": short(self.scale_),
            "missing": short(self.missing_),
            "mean": short(self.mean_),
            "components": short(self.components_),
            "variances": short(self.variances_),
            "t2_norm": float(self.t2_norm_),
            "spe_norm": float(self.spe_norm_),
            "threshold": float(self.threshold_),
            **({"fpr": self.fpr_} if hasattr(self, "fpr_") else {}),
        }

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> DomainModel:
        """Rebuild from :meth:`to_json` (shapes checked; the card schema checked the types)."""
        dom = cls(n_components=int(state["n_components"]), clip=float(state["clip"]))
        dom.columns_ = [str(c) for c in state["columns"]]
        d = len(dom.columns_)
        for key in ("center", "scale", "missing", "mean"):
            value = np.asarray(state[key], dtype=np.float64)
            if value.shape != (d,):
                raise ValueError(f"domain.{key} has {value.size} values for {d} columns")
            setattr(dom, f"{key}_", value)
        dom.variances_ = np.asarray(state["variances"], dtype=np.float64).reshape(-1)
        comps = np.asarray(state["components"], dtype=np.float64)
        if comps.size == 0:
            comps = comps.reshape(0, d)
        if comps.ndim != 2 or comps.shape != (len(dom.variances_), d):
            raise ValueError("domain.components do not match variances and columns")
        if (dom.scale_ <= 0).any() or (dom.variances_ <= 0).any():
            raise ValueError("domain.scale and domain.variances must be positive")
        dom.components_ = comps
        for key in ("t2_norm", "spe_norm", "threshold"):
            value = float(state[key])
            if not value > 0:
                raise ValueError(f"domain.{key} must be positive")
            setattr(dom, f"{key}_", value)
        if "fpr" in state:
            dom.fpr_ = float(state["fpr"])
        return dom


def fit_domain(
    X: np.ndarray,
    columns: list[str],
    groups: np.ndarray,
    *,
    fpr: float = 0.05,
    source: np.ndarray | None = None,
    n_splits: int = 3,
    random_state: int | None = 0,
    n_components: int = 32,
) -> tuple[DomainModel, np.ndarray]:
    """Fit a :class:`DomainModel` and set its threshold on held-out rows.

    Each row is scored by a model fitted on the other grouped folds (no group on both
    sides, as for a new image of a new video or person); the threshold is the ``1 - fpr``
    quantile of those held-out scores. The returned model is then fitted on every row.

    Parameters
    ----------
    X : array of shape (n, d)
    columns : list of str
    groups : array of shape (n,)
    fpr : float, default=0.05
        Share of held-out training rows the warning may flag.
    source : array of shape (n,), optional
        Source of each row: the threshold is then the largest of the per-source
        quantiles (sources of at least 10 rows), so that no source has more than ``fpr``
        of its held-out rows flagged (a compact source would otherwise lend its share to a
        diverse one).
    n_splits : int, default=3
    random_state : int or None, default=0
    n_components : int, default=32

    Returns
    -------
    (DomainModel, numpy.ndarray)
        The model, and the held-out domain scores of the rows (already divided by the
        threshold; about ``fpr`` of them exceed 1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 5))
    >>> dom, held_out = fit_domain(X, list("abcde"), np.arange(300), fpr=0.1)
    >>> round(float(np.mean(held_out > 1)), 2)
    0.1
    >>> bool(dom.score(X[:5] + 8).min() > 1)
    True
    """
    X = np.asarray(X, dtype=np.float64)
    names, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    k = min(n_splits, len(names))
    if k < 2:
        raise ValueError("the domain threshold needs at least 2 groups of training rows")
    # Groups shuffled, then dealt to the folds in turn: no group on both sides.
    fold_of_group = np.empty(len(names), dtype=int)
    fold_of_group[np.random.default_rng(random_state).permutation(len(names))] = (
        np.arange(len(names)) % k
    )
    fold = fold_of_group[codes]
    t2 = np.full(len(X), np.nan)
    spe = np.full(len(X), np.nan)
    for f in range(k):
        train, test = fold != f, fold == f
        part = DomainModel(n_components=n_components).fit(X[train], columns)
        t2[test], spe[test] = part.parts(X[test])
    source = None if source is None else np.asarray(source).astype(str)

    def tail(values: np.ndarray) -> float:
        """The ``1 - fpr`` quantile of held-out values: the largest over the sources."""
        q = float(np.quantile(values, 1.0 - fpr))
        if source is not None:
            for name in np.unique(source):
                rows = source == name
                if rows.sum() >= 10:
                    q = max(q, float(np.quantile(values[rows], 1.0 - fpr)))
        return _positive(q)

    dom = DomainModel(n_components=n_components).fit(X, columns)
    # Each part is scaled by its own held-out tail, so neither swamps the other (the
    # residual of a few leftover directions has a much heavier tail than T²); the score
    # is their maximum, and its threshold the tail of the held-out maxima.
    dom.t2_norm_, dom.spe_norm_ = tail(t2), tail(spe)
    held_out = np.maximum(t2 / dom.t2_norm_, spe / dom.spe_norm_)
    dom.threshold_ = tail(held_out)
    dom.fpr_ = float(fpr)
    return dom, held_out / dom.threshold_


def _quartiles(X: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Per-column 25th, 50th and 75th percentiles, NaN ignored (NaN for an empty column).

    One vectorised sort for the complete columns; only columns with missing values take
    numpy's slow per-column NaN path.
    """
    out = np.full((3, X.shape[1]), np.nan)
    gaps = missing.any(axis=0)
    if (~gaps).any():
        out[:, ~gaps] = np.percentile(X[:, ~gaps], [25, 50, 75], axis=0)
    if gaps.any():
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            out[:, gaps] = np.nanpercentile(X[:, gaps], [25, 50, 75], axis=0)
    return out


def _positive(value: float) -> float:
    value = float(value)
    return value if np.isfinite(value) and value > 0 else 1e-12


class _quiet_nan_warnings:
    """Silence numpy's all-NaN-slice warnings (an all-missing column is allowed)."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
