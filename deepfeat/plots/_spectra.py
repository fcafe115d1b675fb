"""Radial-spectrum figures: mean spectra per class and their difference."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._schema import LABEL_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
from ._common import CLASS_COLORS, SPECTRUM_COLUMN, _figure, as_dataset, sample_rows

logger = logging.getLogger(__name__)

__all__ = [
    "compute_spectra",
    "plot_mean_spectra",
    "plot_spectrum_difference",
    "spectrum_frequencies",
]


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
    from .._io import ImageLoadError, load_image
    from ..features._fft_kernel import radial_spectrum

    df = sample_rows(as_dataset(dataset), max_images, random_state)
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
        cols = [c for c in spectra.columns if SPECTRUM_COLUMN.match(str(c))]
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
