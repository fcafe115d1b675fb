"""Model figures: group and feature importance, SHAP summaries and per-image explanations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._schema import GROUPS, LABEL_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
from ._common import (
    CLASS_COLORS,
    GROUP_COLORS,
    _blank,
    _figure,
    _percent_formatter,
    _short,
    _thumbnail,
)

__all__ = [
    "plot_domain_scores",
    "plot_explanations",
    "plot_group_importance",
    "plot_shap_summary",
    "plot_top_features",
]


# -------------------------------------------------------------------------------- model
def _group_of(name: str) -> str:
    group = str(name).split("_", 1)[0]
    return group if group in GROUPS else "other"


def _importance_series(source: Any, attr: str) -> pd.Series:
    if isinstance(source, pd.Series):
        return source.astype(float)
    if isinstance(source, Mapping):
        return pd.Series(source, dtype=float)
    if attr == "group" and hasattr(source, "group_importances_"):
        return source.group_importances_.astype(float)
    names = getattr(source, "model_columns_", getattr(source, "feature_names_in_", None))
    if hasattr(source, "feature_importances_") and names is not None:
        imp = pd.Series(
            np.asarray(source.feature_importances_, dtype=float),
            index=[str(n) for n in names],
        )
        if attr == "group":
            return imp.groupby([_group_of(n) for n in imp.index], sort=False).sum()
        return imp
    raise TypeError(
        "expected a fitted DeepfakeDetector, a pandas Series or a mapping of importances"
    )


def plot_group_importance(source: Any) -> Figure:
    """Share of the total gain per feature group (``cnn``, ``fft``, ``meta``).

    Parameters
    ----------
    source : fitted DeepfakeDetector, or Series / mapping group → importance
        A detector's ``group_importances_`` is used.

    Returns
    -------
    matplotlib.figure.Figure
    """
    imp = _importance_series(source, "group").sort_values(ascending=False)
    total = float(imp.sum())
    share = imp / total if total > 0 else imp
    fig = _figure(max(3.6, 1.3 * len(share) + 1.8), 3.8)
    ax = fig.add_subplot()
    names = [str(n) for n in share.index]
    bars = ax.bar(
        names,
        share.to_numpy(),
        color=[GROUP_COLORS.get(n, GROUP_COLORS["other"]) for n in names],
        width=0.6,
    )
    ax.bar_label(bars, labels=[f"{v:.1%}" for v in share.to_numpy()], padding=2)
    ax.set_ylim(0, max(1.0, float(share.max()) * 1.15) if len(share) else 1.0)
    ax.set_ylabel("share of total gain")
    ax.set_xlabel("feature group")
    ax.set_title("Gain importance per feature group")
    ax.yaxis.set_major_formatter(_percent_formatter())
    return fig


def plot_top_features(source: Any, top: int = 20) -> Figure:
    """The ``top`` features by gain share, horizontal bars coloured by group.

    Parameters
    ----------
    source : fitted DeepfakeDetector, or Series / mapping feature → importance
    top : int, default=20

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Patch

    imp = _importance_series(source, "feature")
    total = float(imp.sum())
    imp = (imp / total if total > 0 else imp).sort_values(ascending=False).head(int(top))
    imp = imp[::-1]  # largest at the top
    names = [str(n) for n in imp.index]
    fig = _figure(6.8, 0.28 * len(imp) + 1.4)
    ax = fig.add_subplot()
    colors = [GROUP_COLORS[_group_of(n)] for n in names]
    bars = ax.barh(names, imp.to_numpy(), color=colors)
    ax.bar_label(bars, labels=[f"{v:.1%}" for v in imp.to_numpy()], padding=2, fontsize=8)
    ax.set_xlabel("share of total gain")
    ax.xaxis.set_major_formatter(_percent_formatter())
    ax.set_xlim(0, float(imp.max()) * 1.18 if len(imp) and imp.max() > 0 else 1.0)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(f"Top {len(imp)} features by gain")
    groups = list(dict.fromkeys(_group_of(n) for n in names[::-1]))
    ax.legend(
        handles=[Patch(color=GROUP_COLORS[g], label=g) for g in groups],
        loc="lower right",
        fontsize=8,
        title="group",
    )
    return fig


def _contributions(explanation: Any) -> pd.DataFrame:
    if isinstance(explanation, pd.DataFrame):
        contrib = explanation.attrs.get("contributions")
        if isinstance(contrib, pd.DataFrame):
            return contrib
        if "margin" not in explanation.columns:
            return explanation  # already a contributions matrix
    raise ValueError(
        "expected the DataFrame of DeepfakeDetector.explain() (with attrs['contributions']) "
        "or a per-feature contributions DataFrame"
    )


def _swarm_offsets(x: np.ndarray, rng: np.random.Generator, width: float = 0.38) -> np.ndarray:
    """Vertical offsets that spread points with close x values (a simple beeswarm)."""
    n = x.size
    if n == 0:
        return np.zeros(0)
    span = float(np.ptp(x)) or 1.0
    bins = np.minimum(((x - x.min()) / span * 60).astype(int), 59)
    offsets = np.zeros(n)
    for b in np.unique(bins):
        idx = np.flatnonzero(bins == b)
        idx = idx[rng.permutation(idx.size)]
        k = np.arange(idx.size)
        offsets[idx] = np.where(k % 2 == 0, 1, -1) * ((k + 1) // 2)
    biggest = np.abs(offsets).max()
    step = min(width / biggest, 0.07) if biggest > 0 else 0.0
    return offsets * step


def plot_shap_summary(
    explanation: Any,
    features: Any = None,
    *,
    max_display: int = 20,
    random_state: int | None = 0,
) -> Figure:
    """SHAP-style beeswarm summary of per-image contributions, coloured by feature value.

    One row per feature (the ``max_display`` with the largest mean |contribution|, the
    most important on top); one dot per image at its contribution to the log-odds of
    "fake" (exact TreeSHAP from :meth:`deepfeat.DeepfakeDetector.explain`). The colour is
    the image's feature value as a within-feature percentile (blue low, red high), so a
    row that is red on the right means "high values push towards fake".

    Parameters
    ----------
    explanation : DataFrame
        The output of ``DeepfakeDetector.explain(X)`` (its ``attrs["contributions"]`` is
        used) or a contributions table (features as columns).
    features : DataFrame, optional
        The feature values of the same images in the same order (the ``X`` passed to
        ``explain``); without it the dots are grey.
    max_display : int, default=20
    random_state : int or None, default=0
        Seed of the beeswarm placement.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from scipy.stats import rankdata

    contrib = _contributions(explanation)
    if contrib.shape[0] == 0 or contrib.shape[1] == 0:
        raise ValueError("no contributions to plot")
    values = None
    if features is not None:
        feats = features if isinstance(features, pd.DataFrame) else pd.DataFrame(features)
        if len(feats) != len(contrib):
            raise ValueError(f"features has {len(feats)} rows, contributions {len(contrib)}")
        if isinstance(features, pd.DataFrame):
            missing = [c for c in contrib.columns if c not in feats.columns]
            known = getattr(explanation, "attrs", {}).get("values")
            if missing and known is not None:  # e.g. the stacked cnn_probe score
                feats = feats.assign(**{c: known[c].to_numpy() for c in missing})
                missing = []
            if missing:
                raise ValueError(f"features lacks columns of the explanation: {missing[:3]}")
            values = feats[list(contrib.columns)]
        else:
            values = pd.DataFrame(np.asarray(features), columns=contrib.columns)
    elif getattr(explanation, "attrs", {}).get("values") is not None:
        values = explanation.attrs["values"][list(contrib.columns)]
    importance = contrib.abs().mean(axis=0).sort_values(ascending=False)
    shown = list(importance.index[: int(max_display)])
    rng = np.random.default_rng(random_state)
    cmap = "coolwarm"
    norm = Normalize(0.0, 1.0)
    fig = _figure(7.6, 0.36 * len(shown) + 1.6)
    ax = fig.add_subplot()
    ax.axvline(0.0, color="0.5", lw=1, zorder=0)
    for row, name in enumerate(shown):
        pos = len(shown) - 1 - row
        x = contrib[name].to_numpy(dtype=float)
        y = pos + _swarm_offsets(x, rng)
        if values is not None:
            v = values[name].to_numpy(dtype=float)
            finite = np.isfinite(v)
            color = np.full(v.shape, np.nan)
            if finite.sum() > 1 and np.ptp(v[finite]) > 0:
                color[finite] = (rankdata(v[finite]) - 1) / (finite.sum() - 1)
            elif finite.any():
                color[finite] = 0.5
            if (~finite).any():
                ax.scatter(x[~finite], y[~finite], s=10, color="0.6", linewidths=0)
            ax.scatter(
                x[finite], y[finite], c=color[finite], cmap=cmap, norm=norm, s=10, linewidths=0
            )
        else:
            ax.scatter(x, y, s=10, color="0.35", linewidths=0)
    ax.set_yticks(range(len(shown)), shown[::-1], fontsize=8)
    ax.set_ylim(-0.7, len(shown) - 0.3)
    ax.set_xlabel("contribution to the log-odds of fake (SHAP value)")
    ax.set_title(f"Per-image feature contributions ({len(contrib):,} images)")
    ax.grid(axis="x", alpha=0.3)
    if values is not None:
        cbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01, aspect=30)
        cbar.set_ticks([0, 1], labels=["low", "high"])
        cbar.set_label("feature value (percentile)")
    return fig


def plot_explanations(
    explanation: pd.DataFrame,
    paths: Any = None,
    *,
    rows: Sequence[int] | None = None,
    labels: Any = None,
    top: int = 8,
    thumb_size: int = 160,
) -> Figure:
    """Per-image explanations: the image and its strongest feature contributions.

    Parameters
    ----------
    explanation : DataFrame
        The output of ``DeepfakeDetector.explain(X)``.
    paths : sequence of str, optional
        Image paths of the explained rows (same order), drawn next to the bars.
    rows : sequence of int, optional
        Positions of the rows to show; default the first six.
    labels : array-like of {0, 1}, optional
        True labels of the explained rows, shown in the titles.
    top : int, default=8
        Contributions shown per image (largest absolute values).
    thumb_size : int, default=160

    Returns
    -------
    matplotlib.figure.Figure
        Bars to the right (red) push towards fake, to the left (blue) towards real; the
        title gives the predicted probability and the contribution of each group.
    """
    contrib = _contributions(explanation)
    rows = list(range(min(6, len(contrib)))) if rows is None else [int(r) for r in rows]
    if not rows:
        raise ValueError("no rows to explain")
    path_list = None if paths is None else [str(p) for p in paths]
    label_arr = None if labels is None else np.asarray(labels).astype(int)
    with_images = path_list is not None
    fig = _figure(9.0 if with_images else 6.6, 2.1 * len(rows) + 0.4)
    axes = fig.subplots(
        len(rows),
        2 if with_images else 1,
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 3]} if with_images else None,
    )
    group_cols = [c for c in explanation.columns if str(c).startswith("contrib_")]
    for i, r in enumerate(rows):
        ax = axes[i, -1]
        values = contrib.iloc[r]
        order = values.abs().sort_values(ascending=False).index[: int(top)][::-1]
        vals = values[order].to_numpy(dtype=float)
        ax.barh(
            [str(n) for n in order],
            vals,
            color=[CLASS_COLORS[1] if v > 0 else CLASS_COLORS[0] for v in vals],
        )
        ax.axvline(0, color="0.4", lw=1)
        ax.tick_params(axis="y", labelsize=8)
        bound = float(np.abs(vals).max()) * 1.1 if vals.size and np.abs(vals).max() > 0 else 1
        ax.set_xlim(-bound, bound)
        title = []
        if "proba" in explanation.columns:
            title.append(f"P(fake) = {float(explanation['proba'].iloc[r]):.3f}")
        if label_arr is not None:
            title.append(f"true: {LABEL_NAMES.get(int(label_arr[r]), '?')}")
        groups = [
            f"{c.removeprefix('contrib_')} {float(explanation[c].iloc[r]):+.2f}" for c in group_cols
        ]
        if groups:
            title.append("log-odds: " + ", ".join(groups))
        ax.set_title(" · ".join(title), fontsize=9)
        if i == len(rows) - 1:
            ax.set_xlabel("contribution to the log-odds of fake (→ fake, ← real)")
        if with_images:
            axi = axes[i, 0]
            _blank(axi)
            img = _thumbnail(path_list[r], thumb_size)
            if img is not None:
                axi.imshow(img)
            color = CLASS_COLORS[int(label_arr[r])] if label_arr is not None else "black"
            axi.set_title(_short(Path(path_list[r]).name, 18), fontsize=8, color=color)
    return fig


def plot_domain_scores(scores: Any, labels: Any = None) -> Figure:
    """Histogram of out-of-domain scores (log scale) with the warning's threshold at 1.

    Parameters
    ----------
    scores : array-like of float
        :meth:`DeepfakeDetector.domain_score` of the images (NaN rows are left out).
    labels : array-like of {0, 1}, optional
        One histogram per class when given.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_domain_scores([0.2, 0.5, 0.9, 3.0, 40.0])
    >>> fig.axes[0].get_xscale()
    'log'
    """
    s = np.asarray(scores, dtype=float)
    ok = np.isfinite(s) & (s > 0)
    fig = _figure(7, 3.6)
    ax = fig.add_subplot()
    if not ok.any():
        ax.text(0.5, 0.5, "no domain scores", ha="center", va="center", transform=ax.transAxes)
        return fig
    lo, hi = np.log10(s[ok].min()), np.log10(max(s[ok].max(), 1.0))
    bins = np.logspace(min(lo, -1.0), hi + 0.05, 40)
    if labels is None:
        ax.hist(s[ok], bins=bins, color="#607d8b", alpha=0.85, label="images")
    else:
        y = np.asarray(labels).astype(int)
        for value, color in ((0, "#1f77b4"), (1, "#d62728")):
            sel = ok & (y == value)
            if sel.any():
                ax.hist(s[sel], bins=bins, color=color, alpha=0.6, label=LABEL_NAMES[value])
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1.2, label="threshold (1)")
    ax.set_xscale("log")
    share = float(np.mean(s[ok] > 1.0))
    ax.set_title(f"Out-of-domain score: {share:.1%} of the images above the threshold")
    ax.set_xlabel("domain score (log scale; > 1: unlike the training images)")
    ax.set_ylabel("images")
    ax.legend(frameon=False)
    return fig
