"""Metric figures: ROC and precision-recall curves, confusion matrix, calibration, ablation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._schema import LABEL_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
from ._common import CLASS_COLORS, GROUP_COLORS, _figure, _finite_pairs, _score_sets

__all__ = [
    "plot_ablation",
    "plot_calibration",
    "plot_confusion_matrix",
    "plot_pr",
    "plot_roc",
]


def _unit_square(ax: Axes, xlabel: str, ylabel: str, title: str, legend: str) -> None:
    """Axes of a curve on [0, 1]²: equal aspect, labels, title, grid and legend."""
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend, fontsize=9)


def plot_roc(y_true: Any, scores: Any) -> Figure:
    """ROC curve(s) with the AUC in the legend ("fake" is the positive class).

    Parameters
    ----------
    y_true : array-like of {0, 1}
    scores : array-like, ``predict_proba`` output, or mapping name → scores
        Several named score sets give several curves.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure(5.2, 4.8)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="chance (AUC = 0.5)")
    for name, s in _score_sets(scores).items():
        y, s = _finite_pairs(y_true, s)
        if len(np.unique(y)) < 2:
            raise ValueError("ROC needs both real (0) and fake (1) samples")
        fpr, tpr, _ = roc_curve(y, s)
        auc = roc_auc_score(y, s)
        ax.plot(fpr, tpr, lw=2, label=f"{name} (AUC = {auc:.3f})")
    _unit_square(
        ax,
        "false positive rate (reals flagged as fake)",
        "true positive rate (fakes caught)",
        "ROC curve",
        "lower right",
    )
    return fig


def plot_pr(y_true: Any, scores: Any) -> Figure:
    """Precision–recall curve(s) of "fake", with the average precision (AP) in the legend.

    The dashed line is a random ranking: precision equal to the share of fakes.
    Inputs as in :func:`plot_roc`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig = _figure(5.2, 4.8)
    ax = fig.add_subplot()
    prevalence = None
    for name, s in _score_sets(scores).items():
        y, s = _finite_pairs(y_true, s)
        if len(np.unique(y)) < 2:
            raise ValueError("a PR curve needs both real (0) and fake (1) samples")
        precision, recall, _ = precision_recall_curve(y, s)
        ap = average_precision_score(y, s)
        ax.step(recall, precision, where="post", lw=2, label=f"{name} (AP = {ap:.3f})")
        prevalence = float(y.mean())
    if prevalence is not None:
        ax.axhline(prevalence, ls="--", color="0.6", lw=1, label=f"chance (AP = {prevalence:.3f})")
    _unit_square(
        ax,
        "recall (fakes caught)",
        "precision (flagged images that are fake)",
        "Precision–recall curve (positive class: fake)",
        "lower left",
    )
    return fig


def plot_confusion_matrix(y_true: Any, scores: Any, *, threshold: float = 0.5) -> Figure:
    """Confusion matrix at ``threshold``: counts and row-normalised (share of each true class).

    Parameters
    ----------
    y_true : array-like of {0, 1}
    scores : array-like
        Fake probabilities (or ``predict_proba`` output); a sample is called fake when its
        score is ``>= threshold``. Hard 0/1 predictions work too.
    threshold : float, default=0.5

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import confusion_matrix

    s = _score_sets(scores)["model"] if not isinstance(scores, Mapping) else None
    if s is None:
        raise TypeError("plot_confusion_matrix takes one set of scores")
    y, s = _finite_pairs(y_true, s)
    pred = (s >= threshold).astype(int)
    cm = confusion_matrix(y, pred, labels=[0, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = cm / cm.sum(axis=1, keepdims=True)
    fig = _figure(8.6, 3.9)
    axes = fig.subplots(1, 2)
    names = [LABEL_NAMES[0], LABEL_NAMES[1]]
    panels = (
        (cm, "counts", lambda v, i, j: f"{int(v):,}"),
        (norm, "share of each true class", lambda v, i, j: f"{v:.1%}\n({cm[i, j]:,})"),
    )
    for ax, (mat, title, fmt) in zip(axes, panels):
        shown = np.nan_to_num(mat.astype(float))
        vmax = shown.max() if shown.max() > 0 else 1.0
        ax.imshow(shown, cmap="Blues", vmin=0, vmax=vmax)
        for i in range(2):
            for j in range(2):
                value = mat[i, j]
                text = "—" if not np.isfinite(value) else fmt(value, i, j)
                dark = np.isfinite(value) and shown[i, j] > 0.55 * vmax
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    color="white" if dark else "black",
                    fontsize=11,
                )
        ax.set_xticks([0, 1], names)
        ax.set_yticks([0, 1], names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(title)
    fig.suptitle(f"Confusion matrix at threshold {threshold:.2f} (n={len(y):,})")
    return fig


def plot_calibration(y_true: Any, proba: Any, *, n_bins: int = 10) -> Figure:
    """Reliability curve of the fake probability, with the score histogram per class below.

    Equal-width probability bins; each point is (mean predicted probability, observed share
    of fakes) of a non-empty bin, its size growing with the bin's count. The legend gives
    the expected calibration error (ECE, same bins) and the Brier score.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    proba : array-like
        Fake probabilities (or ``predict_proba`` output).
    n_bins : int, default=10

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import brier_score_loss

    from ..evaluation import expected_calibration_error

    p = _score_sets(proba)["model"]
    y, p = _finite_pairs(y_true, p)
    if len(y) == 0:
        raise ValueError("no scores to plot")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("calibration needs probabilities in [0, 1]")
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    mean_p = np.bincount(bins, weights=p, minlength=n_bins)
    frac = np.bincount(bins, weights=y, minlength=n_bins)
    ok = count > 0
    mean_p = mean_p[ok] / count[ok]
    frac = frac[ok] / count[ok]
    ece = expected_calibration_error(y, p, n_bins=n_bins)
    brier = brier_score_loss(y, p)
    fig = _figure(5.4, 6.0)
    ax, ax_hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="perfectly calibrated")
    ax.plot(
        mean_p,
        frac,
        "-",
        color="black",
        lw=1.5,
        label=f"model (ECE = {ece:.3f}, Brier = {brier:.3f})",
    )
    sizes = 20 + 180 * count[ok] / count.max()
    ax.scatter(mean_p, frac, s=sizes, color="black", zorder=3)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("observed share of fakes")
    ax.set_title(f"Calibration (reliability) curve, {n_bins} bins, n={len(y):,}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    edges = np.linspace(0, 1, max(n_bins, 20) + 1)
    for label in (0, 1):
        v = p[y == label]
        if v.size:
            ax_hist.hist(
                v, bins=edges, color=CLASS_COLORS[label], alpha=0.55, label=LABEL_NAMES[label]
            )
    ax_hist.set_xlim(-0.02, 1.02)
    ax_hist.set_xlabel("predicted probability of fake")
    ax_hist.set_ylabel("images")
    ax_hist.legend(fontsize=8, loc="upper center")
    return fig


_METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "average_precision": "average precision",
    "balanced_accuracy": "balanced accuracy",
    "tpr_at_1pct_fpr": "TPR at 1 % FPR",
    "tpr_at_5pct_fpr": "TPR at 5 % FPR",
    "brier": "Brier score (lower is better)",
    "ece": "ECE (lower is better)",
}


def plot_ablation(
    results: pd.DataFrame,
    metrics: Sequence[str] = ("roc_auc", "average_precision", "balanced_accuracy"),
) -> Figure:
    """Cross-validated metrics per feature subset: bars of the fold mean, error bars ± std.

    Parameters
    ----------
    results : DataFrame
        The output of :func:`deepfeat.ablation` (one row per subset and fold, columns
        ``subset``, ``fold`` and the metrics); the folds are drawn as dots. Its
        ``attrs["summary"]`` (mean/std columns per metric) is accepted too.
    metrics : sequence of str, default=("roc_auc", "average_precision", "balanced_accuracy")
        One panel per metric.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(results.columns, pd.MultiIndex):  # the summary table
        summary = results
        folds = None
        subsets = [str(s) for s in summary.index]
    else:
        if "subset" not in results.columns:
            raise ValueError("expected the DataFrame returned by deepfeat.ablation")
        unknown = [m for m in metrics if m not in results.columns]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}")
        folds = results
        subsets = [str(s) for s in dict.fromkeys(results["subset"])]
        summary = results.groupby("subset", sort=False)[list(metrics)].agg(["mean", "std"])
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in summary.columns.get_level_values(0)]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}")
    n_folds = folds["fold"].nunique() if folds is not None and "fold" in folds.columns else None
    fig = _figure(3.6 * len(metrics) + 1.3, 0.45 * len(subsets) + 1.7)
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
    y = np.arange(len(subsets))
    rng = np.random.default_rng(0)
    colors = [GROUP_COLORS.get(s, "#7f7f7f") for s in subsets]  # pairs and "all" in grey
    for ax, metric in zip(axes, metrics):
        mean = summary[(metric, "mean")].reindex(subsets).to_numpy(dtype=float)
        std = np.nan_to_num(summary[(metric, "std")].reindex(subsets).to_numpy(dtype=float))
        ax.barh(y, mean, xerr=std, capsize=3, color=colors, alpha=0.8, height=0.65)
        right = max(1.0, float(np.nanmax(mean + std)) if len(mean) else 1.0)
        for yi, m, sd in zip(y, mean, std):
            if not np.isfinite(m):
                continue
            inside = m >= 0.45 * right
            ax.text(
                0.02 * right if inside else m + sd + 0.02 * right,
                yi,
                f"{m:.3f} ± {sd:.3f}",
                va="center",
                ha="left",
                fontsize=8,
                color="white" if inside else "black",
                fontweight="bold" if inside else "normal",
            )
        if folds is not None:
            for yi, subset in zip(y, subsets):
                v = folds.loc[folds["subset"].astype(str) == subset, metric].to_numpy(float)
                ax.scatter(
                    v,
                    yi + rng.uniform(-0.18, 0.18, v.size),
                    s=12,
                    color="black",
                    zorder=3,
                    label="fold" if yi == 0 else None,
                )
        ax.set_xlim(0, right * 1.05)
        ax.set_title(_METRIC_LABELS.get(metric, metric))
        ax.set_xlabel("fold mean ± std")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, subsets)
    axes[0].invert_yaxis()  # first subset on top
    axes[0].set_ylabel("feature subset")
    if folds is not None:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper right", fontsize=8)
    fig.suptitle(
        "Grouped cross-validation per feature subset" + (f" ({n_folds} folds)" if n_folds else "")
    )
    return fig
