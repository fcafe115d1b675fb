"""Figures for dataset exploration, Fourier spectra and model inspection (matplotlib only).

Every ``plot_*`` function takes data and returns a new :class:`matplotlib.figure.Figure`.
The figures are built with the object-oriented API (``Figure()``), never through
:mod:`matplotlib.pyplot`: nothing is shown, registered in pyplot's figure manager or
closed, and no rc setting is changed, so the functions are safe under the ``Agg`` backend,
in tests, in scripts and in notebooks. Save a figure with ``fig.savefig("x.png")``; in a
notebook, run ``%matplotlib inline`` once and make the figure the last expression of a
cell (or call ``IPython.display.display(fig)``).

Dataset exploration (input: the DataFrame of :func:`deepfeat.load_dataset`, or its path)
    :func:`plot_class_balance`, :func:`plot_distributions`, :func:`plot_boxplots`,
    :func:`plot_violins`, :func:`plot_sample_grid`, :func:`plot_real_vs_fake`,
    :func:`plot_fft_images`; helpers :func:`image_info` and :func:`numeric_columns`.
Spectra (input: spectra from :func:`compute_spectra` or an ``fft_*`` feature table)
    :func:`plot_mean_spectra`, :func:`plot_spectrum_difference`.
Model (input: a fitted :class:`deepfeat.DeepfakeDetector`, scores, explanations, ablation)
    :func:`plot_group_importance`, :func:`plot_top_features`, :func:`plot_shap_summary`,
    :func:`plot_explanations`, :func:`plot_roc`, :func:`plot_pr`,
    :func:`plot_confusion_matrix`, :func:`plot_calibration`, :func:`plot_ablation`.
Report
    :func:`write_report` (defined in :mod:`deepfeat.report`) writes every figure as a PNG
    and one self-contained HTML page.

Labels are 0 (real) and 1 (fake) throughout; real is drawn in blue, fake in red.

Examples
--------
>>> import tempfile
>>> import deepfeat
>>> from deepfeat import plots
>>> df = deepfeat.load_dataset(deepfeat.make_demo_dataset(tempfile.mkdtemp(), n_images=12))
>>> fig = plots.plot_class_balance(df)
>>> fig.axes[0].get_title()
'Class balance: 12 images, 2 groups'
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._schema import LABEL_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = [
    "CLASS_COLORS",
    "GROUP_COLORS",
    "compute_spectra",
    "image_info",
    "numeric_columns",
    "plot_ablation",
    "plot_boxplots",
    "plot_calibration",
    "plot_class_balance",
    "plot_confusion_matrix",
    "plot_distributions",
    "plot_explanations",
    "plot_fft_images",
    "plot_group_importance",
    "plot_mean_spectra",
    "plot_pr",
    "plot_real_vs_fake",
    "plot_roc",
    "plot_sample_grid",
    "plot_shap_summary",
    "plot_spectrum_difference",
    "plot_top_features",
    "plot_violins",
    "spectrum_frequencies",
    "write_report",
]

#: Display name of each label.
#: Colour of each label (matplotlib's default blue and red).
CLASS_COLORS: dict[int, str] = {0: "#1f77b4", 1: "#d62728"}
#: Colour of each feature group.
GROUP_COLORS: dict[str, str] = {
    "cnn": "#4c72b0",
    "fft": "#dd8452",
    "meta": "#55a868",
    "other": "#8c8c8c",
}

#: Columns of a dataset table that are never plotted as numeric sidecar data.
_NOT_SIDECAR = frozenset({"label", "group", "path", "fold"})
#: Gray power-spectrum columns of :class:`deepfeat.FFTSpectrum` (``fft_000`` …).
_SPECTRUM_COLUMN = re.compile(r"^fft_\d+$")


# ------------------------------------------------------------------------------ helpers
def _figure(width: float, height: float) -> Figure:
    """A new figure that pyplot does not know about (constrained layout)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _as_dataset(dataset: Any) -> pd.DataFrame:
    """A dataset DataFrame (``path``, ``label`` …) from a DataFrame or a dataset path."""
    if isinstance(dataset, pd.DataFrame):
        if "path" not in dataset.columns:
            raise ValueError("the dataset table needs a 'path' column (see deepfeat.load_dataset)")
        return dataset
    if isinstance(dataset, (str, os.PathLike)):
        from .datasets import load_dataset

        return load_dataset(dataset)
    raise TypeError(f"expected a dataset DataFrame or path, got {type(dataset).__name__}")


def _labels(df: pd.DataFrame) -> np.ndarray:
    if "label" not in df.columns:
        raise ValueError("the dataset table needs a 'label' column (0 real, 1 fake)")
    return df["label"].to_numpy().astype(int)


def _sample_rows(
    df: pd.DataFrame, max_rows: int | None, random_state: int | None = 0
) -> pd.DataFrame:
    """At most ``max_rows`` rows, stratified by label (all rows when ``None`` or fewer)."""
    if max_rows is None or len(df) <= max_rows:
        return df
    frac = max_rows / len(df)
    if "label" not in df.columns:
        return df.sample(n=max_rows, random_state=random_state)
    parts = [
        part.sample(n=max(1, round(len(part) * frac)), random_state=random_state)
        for _, part in df.groupby("label", sort=True)
    ]
    return pd.concat(parts).sort_index()


def _pick_per_class(
    df: pd.DataFrame, n_per_class: int, random_state: int | None
) -> dict[int, pd.DataFrame]:
    rng = np.random.default_rng(random_state)
    out = {}
    labels = _labels(df)
    for label in (0, 1):
        idx = np.flatnonzero(labels == label)
        if idx.size:
            take = np.sort(rng.choice(idx, size=min(n_per_class, idx.size), replace=False))
            out[label] = df.iloc[take]
    return out


def _thumbnail(path: str, size: int = 192) -> np.ndarray | None:
    """RGB uint8 thumbnail (longest side ``size``) of an image file, or None if unreadable."""
    from PIL import Image

    from ._io import ImageLoadError, load_image

    try:
        img = load_image(path)
    except ImageLoadError as exc:
        logger.warning("skipped in the figure: %s", exc)
        return None
    h, w = img.shape[:2]
    scale = size / max(h, w)
    if scale < 1:
        pil = Image.fromarray(img).resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS
        )
        img = np.asarray(pil)
    return img


def _short(text: str, width: int = 20) -> str:
    text = str(text)
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _blank(ax: Axes) -> None:
    """No ticks, labels or frame (image panels); also much faster to lay out and draw."""
    ax.set_axis_off()


def _finite_pairs(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but scores has {s.size}")
    ok = np.isfinite(s)
    if not ok.all():
        logger.warning("%d samples without a score were left out of the figure", (~ok).sum())
    return y[ok], s[ok]


def _score_sets(scores: Any) -> dict[str, np.ndarray]:
    if isinstance(scores, Mapping):
        return {str(k): np.asarray(v, dtype=float) for k, v in scores.items()}
    arr = np.asarray(scores, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 2:  # predict_proba output
        arr = arr[:, 1]
    return {"model": arr}


# ------------------------------------------------------------------------- dataset EDA
def image_info(dataset: Any) -> pd.DataFrame:
    """Width, height and file size of every image, read from the file headers only.

    Pillow opens files lazily: the size comes from the header and no pixel is decoded, so
    this is cheap even for large sets. EXIF orientation is not applied (a portrait photo
    stored sideways reports its stored width and height).

    Parameters
    ----------
    dataset : DataFrame with a ``path`` column, or a dataset path

    Returns
    -------
    pandas.DataFrame
        Columns ``width`` and ``height`` (px) and ``file_kib`` (file size in KiB), on the
        dataset's index; NaN for files that cannot be opened.
    """
    from PIL import Image, UnidentifiedImageError

    df = _as_dataset(dataset)
    rows = []
    heif_tried = False
    for path in df["path"].astype(str):
        width = height = size = np.nan
        try:
            size = os.path.getsize(path) / 1024.0
            if path.lower().endswith((".heic", ".heif", ".avif")) and not heif_tried:
                from ._io import _register_heif

                _register_heif()
                heif_tried = True
            with Image.open(path) as img:
                width, height = img.size
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            logger.debug("cannot read the size of %s: %s", path, exc)
        rows.append((width, height, size))
    return pd.DataFrame(rows, columns=["width", "height", "file_kib"], index=df.index)


def numeric_columns(dataset: pd.DataFrame) -> list[str]:
    """Numeric sidecar columns of a dataset table (all but path, label, group; no booleans)."""
    return [
        c
        for c in dataset.columns
        if c not in _NOT_SIDECAR
        and pd.api.types.is_numeric_dtype(dataset[c])
        and not pd.api.types.is_bool_dtype(dataset[c])
        and dataset[c].notna().any()
    ]


def _unit(column: str) -> str:
    name = column.lower()
    if name.endswith("kib"):
        return "KiB"
    if "width" in name or "height" in name:
        return "px"
    if name in ("bytes", "file_bytes", "size_bytes"):
        return "bytes"
    return ""


def _axis_label(column: str) -> str:
    unit = _unit(column)
    return f"{column} ({unit})" if unit and unit != column else column


def _eda_table(
    dataset: Any,
    columns: Sequence[str] | None,
    info: pd.DataFrame | None,
    max_images: int | None,
    random_state: int | None,
) -> tuple[pd.DataFrame, list[str]]:
    """Labels plus the numeric columns to plot (image sizes from headers + sidecar)."""
    df = _sample_rows(_as_dataset(dataset), max_images, random_state)
    if info is None:
        info = image_info(df)
    else:
        info = info.loc[info.index.intersection(df.index)]
    table = pd.concat(
        [df[["label"]], info.reindex(df.index), df[numeric_columns(df)]],
        axis=1,
    )
    table = table.loc[:, ~table.columns.duplicated()]
    if columns is None:
        columns = [c for c in table.columns if c != "label" and table[c].notna().any()]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"unknown columns {missing}; available: {list(table.columns[1:])}")
    if not columns:
        raise ValueError("no numeric column to plot")
    return table, list(columns)


def _grid(n: int, ncols: int, panel: tuple[float, float], title: str | None = None):
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig = _figure(panel[0] * ncols, panel[1] * nrows + (0.3 if title else 0))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig, axes[:n]


def _per_class(table: pd.DataFrame, column: str) -> dict[int, np.ndarray]:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    labels = table["label"].to_numpy().astype(int)
    out = {}
    for label in (0, 1):
        v = values[(labels == label) & np.isfinite(values)]
        if v.size:
            out[label] = v
    return out


def _constant_note(ax: Axes, data: dict[int, np.ndarray], column: str) -> bool:
    allv = np.concatenate(list(data.values())) if data else np.array([])
    if allv.size and np.ptp(allv) == 0:
        unit = _unit(column)
        ax.text(
            0.5,
            0.92,
            f"constant: {allv[0]:g}{(' ' + unit) if unit else ''}",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"},
        )
        return True
    return False


def plot_class_balance(dataset: Any) -> Figure:
    """Pie chart of the class balance, with counts and percentages.

    Parameters
    ----------
    dataset : DataFrame with a ``label`` column, or a dataset path

    Returns
    -------
    matplotlib.figure.Figure
    """
    df = _as_dataset(dataset) if not isinstance(dataset, pd.DataFrame) else dataset
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
    fig, axes = _grid(
        len(columns), ncols, (3.2, 3.0), f"Box plots per class ({len(table):,} images)"
    )
    for ax, column in zip(axes, columns):
        data = _per_class(table, column)
        present = list(data)
        if not present:
            ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center")
            ax.set_title(column)
            continue
        positions = np.arange(1, len(present) + 1)
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
        ax.set_xticks(positions, [f"{LABEL_NAMES[k]}\n(n={data[k].size:,})" for k in present])
        _constant_note(ax, data, column)
        ax.set_title(column)
        ax.set_ylabel(_axis_label(column))
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
    fig, axes = _grid(
        len(columns), ncols, (3.2, 3.0), f"Violin plots per class ({len(table):,} images)"
    )
    for ax, column in zip(axes, columns):
        data = _per_class(table, column)
        present = list(data)
        if not present:
            ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center")
            ax.set_title(column)
            continue
        positions = np.arange(1, len(present) + 1)
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
        ax.set_xticks(positions, [f"{LABEL_NAMES[k]}\n(n={data[k].size:,})" for k in present])
        ax.set_xlim(0.3, len(present) + 0.7)
        _constant_note(ax, data, column)
        ax.set_title(column)
        ax.set_ylabel(_axis_label(column))
    return fig


def plot_sample_grid(
    dataset: Any,
    n: int = 16,
    *,
    ncols: int = 8,
    random_state: int | None = 0,
    thumb_size: int = 192,
) -> Figure:
    """A grid of randomly drawn images, each titled with its class (coloured) and file name.

    Without a ``label`` column (unlabelled images) the titles give the file name only.

    Parameters
    ----------
    dataset : DataFrame from :func:`deepfeat.load_dataset`, or a dataset path
    n : int, default=16
        Number of images (fewer if the dataset is smaller).
    ncols : int, default=8
    random_state : int or None, default=0
    thumb_size : int, default=192
        Longest side of the decoded thumbnails (px).

    Returns
    -------
    matplotlib.figure.Figure
    """
    df = _as_dataset(dataset)
    if len(df) == 0:
        raise ValueError("the dataset is empty")
    n = min(n, len(df))
    rows = df.sample(n=n, random_state=random_state).sort_index()
    fig, axes = _grid(n, ncols, (1.7, 1.95), f"{n} random images of {len(df):,}")
    labels = _labels(rows) if "label" in rows.columns else [None] * len(rows)
    for ax, path, label in zip(axes, rows["path"].astype(str), labels):
        img = _thumbnail(path, thumb_size)
        if img is not None:
            ax.imshow(img)
        else:
            ax.text(0.5, 0.5, "unreadable", ha="center", transform=ax.transAxes)
        _blank(ax)
        ax.set_title(  # unlabelled inputs: the file name only
            f"{LABEL_NAMES[label]}\n{_short(Path(path).name, 18)}"
            if label is not None
            else _short(Path(path).name, 18),
            color=CLASS_COLORS[label] if label is not None else "black",
            fontsize=8,
        )
    return fig


def plot_real_vs_fake(
    dataset: Any,
    n_per_class: int = 6,
    *,
    random_state: int | None = 0,
    thumb_size: int = 192,
) -> Figure:
    """Real images on the top row, fakes on the bottom row, paired by group where possible.

    When a group holds both classes (a DFDC fake and its source video, a demo fake and its
    source image), the fake is placed under its real source, so a column compares the
    same identity; the remaining columns are filled with random images of each class.

    Parameters
    ----------
    dataset : DataFrame from :func:`deepfeat.load_dataset`, or a dataset path
    n_per_class : int, default=6
    random_state : int or None, default=0
    thumb_size : int, default=192

    Returns
    -------
    matplotlib.figure.Figure
    """
    df = _as_dataset(dataset)
    labels = _labels(df)
    rng = np.random.default_rng(random_state)
    columns: list[tuple[int | None, int | None, bool]] = []  # (real row, fake row, paired)
    if "group" in df.columns:
        groups = df["group"].astype(str).to_numpy()
        real_of = {}
        for i in np.flatnonzero(labels == 0):
            real_of.setdefault(groups[i], i)
        fake_idx = [i for i in np.flatnonzero(labels == 1) if groups[i] in real_of]
        rng.shuffle(fake_idx)
        used_groups: set[str] = set()
        for i in fake_idx:
            if groups[i] in used_groups:
                continue
            used_groups.add(groups[i])
            columns.append((real_of[groups[i]], i, True))
            if len(columns) >= n_per_class:
                break
    used = {i for c in columns for i in c[:2]}
    rest = {
        k: [i for i in rng.permutation(np.flatnonzero(labels == k)) if i not in used]
        for k in (0, 1)
    }
    while len(columns) < n_per_class and (rest[0] or rest[1]):
        r = rest[0].pop() if rest[0] else None
        f = rest[1].pop() if rest[1] else None
        columns.append((r, f, False))
    if not columns:
        raise ValueError("the dataset is empty")
    ncols = len(columns)
    fig = _figure(1.75 * ncols + 0.6, 4.4)
    axes = fig.subplots(2, ncols, squeeze=False)
    n_paired = sum(c[2] for c in columns)
    title = "Real (top) vs fake (bottom)"
    if n_paired == ncols:
        title += ": each column is one group (a fake under a real image of the same source)"
    elif n_paired:
        title += f": columns 1–{n_paired} pair a fake with a real image of the same group"
    fig.suptitle(title, fontsize=11)
    for col, (r, f, _paired) in enumerate(columns):
        for row, (idx, label) in enumerate(((r, 0), (f, 1))):
            ax = axes[row, col]
            _blank(ax)
            if idx is None:
                ax.text(0.5, 0.5, "—", ha="center", transform=ax.transAxes)
                continue
            img = _thumbnail(str(df["path"].iloc[idx]), thumb_size)
            if img is not None:
                ax.imshow(img)
            name = Path(str(df["path"].iloc[idx])).name
            ax.set_title(_short(name, 22), fontsize=8, color=CLASS_COLORS[label])
            if col == 0:
                ax.text(
                    -0.06,
                    0.5,
                    LABEL_NAMES[label],
                    transform=ax.transAxes,
                    rotation=90,
                    ha="right",
                    va="center",
                    color=CLASS_COLORS[label],
                    fontsize=13,
                )
    return fig


def _log_fft(img: np.ndarray, max_side: int | None, window: bool) -> tuple[np.ndarray, tuple]:
    """``log10 |fftshift(FFT2(Y))| / sqrt(HW)`` of the central crop's luminance, + extent."""
    y = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0
    if max_side is not None:
        h, w = y.shape
        ch, cw = min(h, max_side), min(w, max_side)
        top, left = (h - ch) // 2, (w - cw) // 2
        y = y[top : top + ch, left : left + cw]
    y = y - y.mean()
    if window:
        y = y * np.outer(np.hanning(y.shape[0]), np.hanning(y.shape[1]))
    spec = np.fft.fftshift(np.fft.fft2(y))
    mag = np.log10(np.abs(spec) / np.sqrt(y.size) + 1e-6)
    fy = np.fft.fftshift(np.fft.fftfreq(y.shape[0]))
    fx = np.fft.fftshift(np.fft.fftfreq(y.shape[1]))
    dy = 1.0 / y.shape[0]
    dx = 1.0 / y.shape[1]
    extent = (fx[0] - dx / 2, fx[-1] + dx / 2, fy[0] - dy / 2, fy[-1] + dy / 2)
    return mag, extent


def plot_fft_images(
    dataset: Any,
    n_per_class: int = 3,
    *,
    max_side: int | None = 256,
    window: bool = False,
    random_state: int | None = 0,
) -> Figure:
    """Images next to their log-magnitude Fourier spectra, real on the left, fake on the right.

    The spectrum is ``log10 |fftshift(FFT2(Y - mean))| / sqrt(H·W)`` of the luminance ``Y``
    (BT.601, 0…1) of the central ``max_side`` crop (the region the ``fft_*`` features
    use), on axes in cycles/pixel with the zero frequency at the centre. All spectra share
    one colour scale. Up-sampling generators leave bright periodic peaks or a grid at
    ±0.25 and ±0.5 cycles/pixel; natural images fall off smoothly from the centre. The
    bright cross through the centre is the image border (the FFT assumes a periodic image);
    ``window=True`` removes it with a Hann window.

    Parameters
    ----------
    dataset : DataFrame from :func:`deepfeat.load_dataset`, or a dataset path
    n_per_class : int, default=3
        Rows of the figure; each row holds one real and one fake image with their spectra.
    max_side : int or None, default=256
    window : bool, default=False
    random_state : int or None, default=0

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ._io import ImageLoadError, load_image

    df = _as_dataset(dataset)
    picks = _pick_per_class(df, n_per_class, random_state)
    if not picks:
        raise ValueError("the dataset is empty")
    nrows = max(len(p) for p in picks.values())
    cells: dict[tuple[int, int], tuple[str, np.ndarray, np.ndarray, tuple]] = {}
    cropped = False
    for label, rows in picks.items():
        for r, path in enumerate(rows["path"].astype(str)):
            try:
                img = load_image(path)
            except ImageLoadError as exc:
                logger.warning("skipped in the figure: %s", exc)
                continue
            mag, extent = _log_fft(img, max_side, window)
            cells[(r, label)] = (path, img, mag, extent)
            cropped = cropped or (max_side is not None and max(img.shape[:2]) > max_side)
    if not cells:
        raise ValueError("no readable image for the figure")
    every = np.concatenate([c[2].ravel() for c in cells.values()])
    vmin, vmax = np.percentile(every, [1.0, 99.9])
    fig = _figure(10.4, 2.45 * nrows + 0.6)
    axes = fig.subplots(nrows, 4, squeeze=False)
    image = None
    for r in range(nrows):
        for label in (0, 1):
            ax_img, ax_fft = axes[r, 2 * label], axes[r, 2 * label + 1]
            cell = cells.get((r, label))
            if cell is None:
                ax_img.set_visible(False)
                ax_fft.set_visible(False)
                continue
            path, img, mag, extent = cell
            ax_img.imshow(img)
            _blank(ax_img)
            ax_img.set_title(
                f"{LABEL_NAMES[label]}: {_short(Path(path).name, 16)}",
                fontsize=9,
                color=CLASS_COLORS[label],
            )
            image = ax_fft.imshow(
                mag,
                extent=extent,
                origin="lower",
                cmap="magma",
                vmin=vmin,
                vmax=vmax,
                interpolation="nearest",
            )
            ax_fft.set_title(f"log10 |FFT| ({LABEL_NAMES[label]})", fontsize=9)
            ax_fft.set_xticks([-0.5, -0.25, 0, 0.25, 0.5])
            ax_fft.set_yticks([-0.5, -0.25, 0, 0.25, 0.5])
            ax_fft.tick_params(labelsize=7)
            if r == nrows - 1:
                ax_fft.set_xlabel("$f_x$ (cycles/pixel)", fontsize=8)
            ax_fft.set_ylabel("$f_y$ (cycles/pixel)", fontsize=8)
    if image is not None:
        cbar = fig.colorbar(image, ax=axes[:, [1, 3]].ravel().tolist(), shrink=0.8, pad=0.02)
        cbar.set_label("log10 |F| / sqrt(pixels)")
    details = ["luminance"]
    if cropped:
        details.append(f"central crop of at most {max_side} px")
    if window:
        details.append("Hann window")
    fig.suptitle(f"Images and their Fourier magnitude ({', '.join(details)})", fontsize=11)
    return fig


# ------------------------------------------------------------------------------ spectra
def spectrum_frequencies(n_bins: int) -> np.ndarray:
    """Centre frequency (cycles/pixel) of each bin of a ``mode="power"`` radial spectrum.

    Bin ``j`` of :func:`deepfeat.radial_spectrum` averages the frequencies
    ``j/(2 n_bins) ≤ f < (j+1)/(2 n_bins)``, so its centre is ``(j + ½) / (2 n_bins)``.
    """
    return (np.arange(int(n_bins)) + 0.5) / (2.0 * int(n_bins))


def compute_spectra(
    dataset: Any,
    *,
    n_bins: int = 64,
    max_images: int | None = None,
    max_side: int | None = 256,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Gray power spectra of the images (:func:`deepfeat.radial_spectrum`, ``mode="power"``).

    Parameters
    ----------
    dataset : DataFrame from :func:`deepfeat.load_dataset`, or a dataset path
    n_bins : int, default=64
    max_images : int or None, default=None
        Use a label-stratified random sample of at most this many images.
    max_side : int or None, default=256
    random_state : int or None, default=0

    Returns
    -------
    pandas.DataFrame
        ``label`` and ``fft_000 …`` (log10 power per bin) on the dataset's index; images
        that cannot be decoded are left out (logged).
    """
    from ._io import ImageLoadError, load_image
    from .features._fft_kernel import radial_spectrum

    df = _sample_rows(_as_dataset(dataset), max_images, random_state)
    width = max(3, len(str(int(n_bins) - 1)))
    names = [f"fft_{i:0{width}d}" for i in range(int(n_bins))]
    rows, index = [], []
    for idx, path in zip(df.index, df["path"].astype(str)):
        try:
            img = load_image(path)
        except ImageLoadError as exc:
            logger.warning("left out of the spectra: %s", exc)
            continue
        rows.append(radial_spectrum(img, n_bins=n_bins, max_side=max_side))
        index.append(idx)
    values = np.vstack(rows) if rows else np.empty((0, len(names)), dtype=np.float32)
    out = pd.DataFrame(values, columns=names, index=index)
    out.insert(0, "label", df.loc[index, "label"].to_numpy().astype(int))
    return out


def _spectra(spectra: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(spectra, pd.DataFrame):
        cols = [c for c in spectra.columns if _SPECTRUM_COLUMN.match(str(c))]
        if not cols:
            raise ValueError(
                "no gray power-spectrum columns (fft_000, fft_001 …) in the table; use "
                "compute_spectra() or FFTSpectrum() with its default mode and channels"
            )
        cols.sort(key=lambda c: int(c.split("_")[1]))
        if labels is None:
            if "label" not in spectra.columns:
                raise ValueError("pass labels= or a table with a 'label' column")
            labels = spectra["label"]
        values = spectra[cols].to_numpy(dtype=float)
    else:
        values = np.asarray(spectra, dtype=float)
        if values.ndim != 2:
            raise ValueError("spectra must be a 2-D array (images × bins) or a DataFrame")
        if labels is None:
            raise ValueError("labels are needed with an array of spectra")
    y = np.asarray(labels).astype(int).ravel()
    if len(y) != len(values):
        raise ValueError(f"{len(values)} spectra but {len(y)} labels")
    keep = np.isfinite(values).any(axis=1)
    return values[keep], y[keep]


def _nan_stats(block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std and count per column, ignoring NaN, without all-NaN warnings."""
    finite = np.isfinite(block)
    count = finite.sum(axis=0)
    filled = np.where(finite, block, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / count
        var = (np.where(finite, block - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count - 1, 1)
    mean[count == 0] = np.nan
    std = np.sqrt(var)
    std[count < 2] = 0.0
    std[count == 0] = np.nan
    return mean, std, count


def plot_mean_spectra(
    spectra: Any,
    labels: Any = None,
    *,
    frequencies: Any = None,
    show_std: bool = True,
) -> Figure:
    """Mean ± std azimuthal power spectrum of each class on one axis (Durall et al. 2020).

    Parameters
    ----------
    spectra : DataFrame or array of shape (n_images, n_bins)
        :func:`compute_spectra` output, or a feature table with the default
        :class:`deepfeat.FFTSpectrum` columns ``fft_000 …``, or an array of
        :func:`deepfeat.radial_spectrum` outputs (``mode="power"``).
    labels : array-like of {0, 1}, optional
        Taken from the table's ``label`` column when omitted.
    frequencies : array-like, optional
        x positions of the bins; default :func:`spectrum_frequencies` (cycles/pixel).
    show_std : bool, default=True
        Shade mean ± one standard deviation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    values, y = _spectra(spectra, labels)
    freqs = spectrum_frequencies(values.shape[1]) if frequencies is None else frequencies
    freqs = np.asarray(freqs, dtype=float)
    fig = _figure(7.2, 4.4)
    ax = fig.add_subplot()
    for label in (0, 1):
        block = values[y == label]
        if not len(block):
            continue
        mean, std, _ = _nan_stats(block)
        color = CLASS_COLORS[label]
        ax.plot(freqs, mean, color=color, lw=2, label=f"{LABEL_NAMES[label]} (n={len(block):,})")
        if show_std:
            ax.fill_between(freqs, mean - std, mean + std, color=color, alpha=0.18, lw=0)
    ax.set_xlabel("spatial frequency (cycles/pixel)")
    ax.set_ylabel("log10 power")
    ax.set_xlim(0, max(0.5, float(freqs.max())))
    ax.set_title("Azimuthally averaged power spectrum per class (mean ± std)")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_spectrum_difference(
    spectra: Any,
    labels: Any = None,
    *,
    frequencies: Any = None,
) -> Figure:
    """Difference of the class-mean spectra, fake − real, with a 95 % band (Welch).

    Values above zero mean the fakes carry more power at that frequency than the reals.
    The band is ``± 1.96 · sqrt(s_fake²/n_fake + s_real²/n_real)`` per bin. Inputs as in
    :func:`plot_mean_spectra`; both classes are needed.

    Returns
    -------
    matplotlib.figure.Figure
    """
    values, y = _spectra(spectra, labels)
    if not ((y == 0).any() and (y == 1).any()):
        raise ValueError("the difference needs both real (0) and fake (1) spectra")
    freqs = spectrum_frequencies(values.shape[1]) if frequencies is None else frequencies
    freqs = np.asarray(freqs, dtype=float)
    m0, s0, n0 = _nan_stats(values[y == 0])
    m1, s1, n1 = _nan_stats(values[y == 1])
    diff = m1 - m0
    with np.errstate(invalid="ignore", divide="ignore"):
        half = 1.96 * np.sqrt(s1**2 / np.maximum(n1, 1) + s0**2 / np.maximum(n0, 1))
    fig = _figure(7.2, 3.8)
    ax = fig.add_subplot()
    ax.axhline(0.0, color="0.3", lw=1)
    ax.fill_between(freqs, diff - half, diff + half, color="0.5", alpha=0.3, lw=0, label="95 % CI")
    ax.plot(freqs, diff, color="black", lw=2, label="mean fake − mean real")
    ax.set_xlabel("spatial frequency (cycles/pixel)")
    ax.set_ylabel("Δ log10 power (fake − real)")
    ax.set_xlim(0, max(0.5, float(freqs.max())))
    ax.set_title(
        f"Spectrum difference, fake − real (n={int((y == 1).sum()):,} vs {int((y == 0).sum()):,})"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return fig


# -------------------------------------------------------------------------------- model
def _group_of(name: str) -> str:
    group = str(name).split("_", 1)[0]
    return group if group in ("cnn", "fft", "meta") else "other"


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


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=None)


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
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate (reals flagged as fake)")
    ax.set_ylabel("true positive rate (fakes caught)")
    ax.set_title("ROC curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
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
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("recall (fakes caught)")
    ax.set_ylabel("precision (flagged images that are fake)")
    ax.set_title("Precision–recall curve (positive class: fake)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
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

    from .evaluation import expected_calibration_error

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


# ------------------------------------------------------------------------------ report
def write_report(dataset: Any, out_dir: Any, **kwargs: Any) -> Path:
    """Write every figure and one self-contained HTML page (see :mod:`deepfeat.report`).

    Same as :func:`deepfeat.report.write_report`, re-exported here for convenience.
    """
    from .report import write_report as _write_report

    return _write_report(dataset, out_dir, **kwargs)
