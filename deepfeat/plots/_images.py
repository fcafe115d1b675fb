"""Image figures: sample grids, real-vs-fake pairs and their Fourier magnitudes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._schema import LABEL_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
from ._common import (
    CLASS_COLORS,
    _blank,
    _figure,
    _grid,
    _labels,
    _pick_per_class,
    _short,
    _thumbnail,
    as_dataset,
)

logger = logging.getLogger(__name__)

__all__ = [
    "plot_fft_images",
    "plot_real_vs_fake",
    "plot_sample_grid",
]


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
    df = as_dataset(dataset)
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
    df = as_dataset(dataset)
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
    from .._io import ImageLoadError, load_image

    df = as_dataset(dataset)
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
