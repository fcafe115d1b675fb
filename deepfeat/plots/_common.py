"""Shared pieces of the figure functions: colours, dataset handling, sampling, small helpers."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = [
    "CLASS_COLORS",
    "GROUP_COLORS",
    "as_dataset",
    "image_info",
    "numeric_columns",
    "sample_rows",
]

#: Display name of each label.
#: Colour of each label (matplotlib's default blue and red).
CLASS_COLORS: dict[int, str] = {0: "#1f77b4", 1: "#d62728"}


#: Colour of each feature group.
GROUP_COLORS: dict[str, str] = {
    "cnn": "#4c72b0",
    "fft": "#dd8452",
    "forensic": "#8172b2",
    "meta": "#55a868",
    "other": "#8c8c8c",
}


#: Columns of a dataset table that are never plotted as numeric sidecar data.
_NOT_SIDECAR = frozenset({"label", "group", "path", "fold"})


#: Gray power-spectrum columns of :class:`deepfeat.FFTSpectrum` (``fft_000`` …).
SPECTRUM_COLUMN = re.compile(r"^fft_\d+$")


# ------------------------------------------------------------------------------ helpers
def _figure(width: float, height: float) -> Figure:
    """A new figure that pyplot does not know about (constrained layout)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def as_dataset(dataset: Any) -> pd.DataFrame:
    """A dataset DataFrame (``path``, ``label`` …) from a DataFrame or a dataset path."""
    if isinstance(dataset, pd.DataFrame):
        if "path" not in dataset.columns:
            raise ValueError("the dataset table needs a 'path' column (see deepfeat.load_dataset)")
        return dataset
    if isinstance(dataset, (str, os.PathLike)):
        from ..datasets._load import load_dataset

        return load_dataset(dataset)
    raise TypeError(f"expected a dataset DataFrame or path, got {type(dataset).__name__}")


def _labels(df: pd.DataFrame) -> np.ndarray:
    if "label" not in df.columns:
        raise ValueError("the dataset table needs a 'label' column (0 real, 1 fake)")
    return df["label"].to_numpy().astype(int)


def sample_rows(
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

    from .._io import ImageLoadError, load_image

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

    df = as_dataset(dataset)
    rows = []
    heif_tried = False
    for path in df["path"].astype(str):
        width = height = size = np.nan
        try:
            size = os.path.getsize(path) / 1024.0
            if path.lower().endswith((".heic", ".heif", ".avif")) and not heif_tried:
                from .._io import _register_heif

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
    df = sample_rows(as_dataset(dataset), max_images, random_state)
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


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=None)
