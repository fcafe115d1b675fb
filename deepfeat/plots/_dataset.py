"""Dataset exploration figures: class balance, distributions, box and violin plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._schema import LABEL_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
from ._common import (
    CLASS_COLORS,
    _axis_label,
    _constant_note,
    _eda_table,
    _figure,
    _grid,
    _labels,
    _per_class,
    _percent_formatter,
    as_dataset,
)

__all__ = [
    "plot_boxplots",
    "plot_class_balance",
    "plot_distributions",
    "plot_violins",
]


def plot_class_balance(dataset: Any) -> Figure:
    """Pie chart of the class balance, with counts and percentages.

    Parameters
    ----------
    dataset : DataFrame with a ``label`` column, or a dataset path

    Returns
    -------
    matplotlib.figure.Figure
    """
    df = as_dataset(dataset) if not isinstance(dataset, pd.DataFrame) else dataset
    labels = _labels(df)
    counts = {k: int((labels == k).sum()) for k in (0, 1)}
    present = [k for k in (0, 1) if counts[k]]
    if not present:
        raise ValueError("the dataset is empty")
    fig = _figure(5.2, 4.4)
    ax = fig.add_subplot()
    _, _, percentages = ax.pie(
        [counts[k] for k in present],
        labels=[f"{LABEL_NAMES[k]}\n{counts[k]:,} images" for k in present],
        colors=[CLASS_COLORS[k] for k in present],
        autopct=lambda p: f"{p:.1f} %",
        startangle=90,
        counterclock=False,
        wedgeprops={"edgecolor": "white", "linewidth": 1.5},
        textprops={"fontsize": 10},
    )
    for text in percentages:  # drawn inside the wedges
        text.set_color("white")
        text.set_fontweight("bold")
    ax.set_aspect("equal")
    n_groups = df["group"].nunique() if "group" in df.columns else len(df)
    ax.set_title(f"Class balance: {len(df):,} images, {n_groups:,} groups")
    return fig


def plot_distributions(
    dataset: Any,
    columns: Sequence[str] | None = None,
    *,
    info: pd.DataFrame | None = None,
    max_images: int | None = 5000,
    ncols: int = 3,
    max_levels: int = 8,
    random_state: int | None = 0,
) -> Figure:
    """Per-class histograms with a Gaussian KDE of image width, height, file size and sidecars.

    Parameters
    ----------
    dataset : DataFrame from :func:`deepfeat.load_dataset`, or a dataset path
    columns : sequence of str, optional
        Columns to plot; default: ``width``, ``height``, ``file_kib`` (from
        :func:`image_info`) and every numeric sidecar column (:func:`numeric_columns`).
    info : DataFrame, optional
        A precomputed :func:`image_info` table (saves reading the headers again).
    max_images : int or None, default=5000
        Use a label-stratified random sample of at most this many rows.
    ncols : int, default=3
        Panels per row.
    max_levels : int, default=8
        A column with at most this many distinct values (a constant image size, a few
        JPEG qualities) is drawn as bars of the share of each class at each value: a
        histogram and a KDE mean nothing there.
    random_state : int or None, default=0

    Returns
    -------
    matplotlib.figure.Figure
        One panel per column: density histograms of both classes on shared bins and their
        KDE (:class:`scipy.stats.gaussian_kde`, Scott's bandwidth), or the share bars of a
        discrete column.
    """
    from scipy.stats import gaussian_kde

    table, columns = _eda_table(dataset, columns, info, max_images, random_state)
    fig, axes = _grid(
        len(columns), ncols, (4.0, 3.0), f"Distributions per class ({len(table):,} images)"
    )
    for ax, column in zip(axes, columns):
        data = _per_class(table, column)
        if not data:
            ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center")
            ax.set_title(column)
            continue
        allv = np.concatenate(list(data.values()))
        levels = np.unique(allv)
        if levels.size <= max_levels:
            _discrete_bars(ax, data, levels)
            ax.set_title(f"{column} (share per value)")
            ax.set_xlabel(_axis_label(column))
            ax.set_ylabel("share of the class")
            ax.legend(fontsize=8, loc="upper center", ncols=2)
            continue
        lo, hi = float(allv.min()), float(allv.max())
        edges = np.histogram_bin_edges(allv, bins="auto", range=(lo, hi))
        if len(edges) > 41:
            edges = np.linspace(lo, hi, 41)
        pad = 0.05 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, 256)
        for label, v in data.items():
            ax.hist(
                v,
                bins=edges,
                density=True,
                alpha=0.4,
                color=CLASS_COLORS[label],
                label=f"{LABEL_NAMES[label]} (n={v.size:,})",
            )
            if v.size >= 2 and np.ptp(v) > 0:
                try:
                    kde = gaussian_kde(v)
                except np.linalg.LinAlgError:  # pragma: no cover - degenerate data
                    continue
                ax.plot(grid, kde(grid), color=CLASS_COLORS[label], lw=1.8)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.25)  # room for the legend above the data
        ax.set_title(column)
        ax.set_xlabel(_axis_label(column))
        ax.set_ylabel("density")
        ax.legend(fontsize=8, loc="upper center", ncols=2)
    return fig


def _discrete_bars(ax: Axes, data: dict[int, np.ndarray], levels: np.ndarray) -> None:
    """Side-by-side bars of the share of each class at each of a few distinct values."""
    x = np.arange(levels.size)
    width = 0.8 / len(data)
    for k, (label, v) in enumerate(data.items()):
        share = np.array([(v == level).mean() for level in levels])
        bars = ax.bar(
            x + (k - (len(data) - 1) / 2) * width,
            share,
            width=width,
            color=CLASS_COLORS[label],
            alpha=0.75,
            label=f"{LABEL_NAMES[label]} (n={v.size:,})",
        )
        if levels.size <= 4:
            ax.bar_label(bars, labels=[f"{s:.0%}" for s in share], fontsize=7, padding=1)
    ax.set_xticks(x, [f"{level:g}" for level in levels], rotation=0 if levels.size <= 6 else 45)
    ax.set_ylim(0, 1.3)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.yaxis.set_major_formatter(_percent_formatter())


def _class_panels(table: pd.DataFrame, columns: Sequence[str], ncols: int, kind: str):
    """A grid of one panel per column and the panels that have values.

    Yields ``(ax, column, data, present, positions)``: ``data`` the values per class,
    ``present`` its classes and ``positions`` their x positions; an empty panel says so.
    """
    fig, axes = _grid(len(columns), ncols, (3.2, 3.0), f"{kind} per class ({len(table):,} images)")

    def panels():
        for ax, column in zip(axes, columns):
            data = _per_class(table, column)
            present = list(data)
            if not present:
                ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center")
                ax.set_title(column)
                continue
            yield ax, column, data, present, np.arange(1, len(present) + 1)

    return fig, panels()


def _finish_panel(ax: Axes, column: str, data: dict, present: list, positions: Any) -> None:
    """Class ticks with counts, the constant-column note, title and axis label."""
    ax.set_xticks(positions, [f"{LABEL_NAMES[k]}\n(n={data[k].size:,})" for k in present])
    _constant_note(ax, data, column)
    ax.set_title(column)
    ax.set_ylabel(_axis_label(column))


def plot_boxplots(
    dataset: Any,
    columns: Sequence[str] | None = None,
    *,
    info: pd.DataFrame | None = None,
    max_images: int | None = 5000,
    ncols: int = 3,
    max_points: int = 300,
    random_state: int | None = 0,
) -> Figure:
    """Box plots per class of image size, file size and numeric sidecar columns.

    Boxes show the quartiles and whiskers 1.5 IQR; with at most ``max_points`` values per
    class, the individual values are drawn as jittered dots too. Parameters as in
    :func:`plot_distributions`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table, columns = _eda_table(dataset, columns, info, max_images, random_state)
    rng = np.random.default_rng(random_state)
    fig, panels = _class_panels(table, columns, ncols, "Box plots")
    for ax, column, data, present, positions in panels:
        box = ax.boxplot(
            [data[k] for k in present],
            positions=positions,
            widths=0.55,
            patch_artist=True,
            showfliers=False,
            medianprops={"color": "black"},
        )
        for patch, label in zip(box["boxes"], present):
            patch.set_facecolor(CLASS_COLORS[label])
            patch.set_alpha(0.35)
        for pos, label in zip(positions, present):
            v = data[label]
            if v.size <= max_points:
                ax.scatter(
                    pos + rng.uniform(-0.18, 0.18, v.size),
                    v,
                    s=8,
                    color=CLASS_COLORS[label],
                    alpha=0.7,
                    linewidths=0,
                )
        _finish_panel(ax, column, data, present, positions)
    return fig


def plot_violins(
    dataset: Any,
    columns: Sequence[str] | None = None,
    *,
    info: pd.DataFrame | None = None,
    max_images: int | None = 5000,
    ncols: int = 3,
    random_state: int | None = 0,
) -> Figure:
    """Violin plots (KDE outline, median and extremes) per class.

    A class whose values are all equal has no density; it is drawn as a single marker.
    Parameters as in :func:`plot_distributions`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table, columns = _eda_table(dataset, columns, info, max_images, random_state)
    fig, panels = _class_panels(table, columns, ncols, "Violin plots")
    for ax, column, data, present, positions in panels:
        for pos, label in zip(positions, present):
            v = data[label]
            if v.size >= 2 and np.ptp(v) > 0:
                parts = ax.violinplot(
                    [v], positions=[pos], widths=0.75, showmedians=True, showextrema=True
                )
                for body in parts["bodies"]:
                    body.set_facecolor(CLASS_COLORS[label])
                    body.set_edgecolor(CLASS_COLORS[label])
                    body.set_alpha(0.45)
                for key in ("cmedians", "cmins", "cmaxes", "cbars"):
                    if key in parts:
                        parts[key].set_color("black" if key == "cmedians" else "0.35")
                        parts[key].set_linewidth(1.0)
            else:
                ax.scatter([pos], [v[0]], s=90, marker="D", color=CLASS_COLORS[label], alpha=0.8)
        ax.set_xlim(0.3, len(present) + 0.7)
        _finish_panel(ax, column, data, present, positions)
    return fig
