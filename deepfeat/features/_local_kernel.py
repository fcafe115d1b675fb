"""Local-consistency statistics: how the face region differs from its surroundings.

Globally pooled features (a CNN's channel means, an azimuthal spectrum) average a face swap's
pasted region together with the untouched background, so the blend boundary and the
mismatch of sharpness, noise and colour between the two are lost. These statistics keep that
contrast: the image is cut into a ``grid × grid`` array of tiles, a few measures are taken per
tile (high- and mid-band energy, noise level, gradient strength, Lab colour), and each
measure becomes two numbers: the central tiles minus the outer ring (where a face crop has
its face versus its surroundings) and the spread across tiles. Being differences within one
image, they do not change with a source's overall sharpness, compression or colour, which
is what separates datasets rather than real from fake.

Numpy and OpenCV only (worker processes never import scikit-learn).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["LOCAL_FEATURE_NAMES", "LOCAL_MEASURES", "local_contrast"]

#: Per-tile measures, in column order.
LOCAL_MEASURES = ("hf", "mf", "noise", "grad", "l", "a", "b")
#: Column names (without the group prefix): ``local_<measure>_diff``, ``local_<measure>_std``.
LOCAL_FEATURE_NAMES = tuple(f"local_{m}_{stat}" for m in LOCAL_MEASURES for stat in ("diff", "std"))
_EPS = 1e-6


def _tile_means(values: np.ndarray, grid: int) -> np.ndarray:
    """``grid × grid`` means of a 2-D map (tiles of equal size, the remainder dropped)."""
    h, w = values.shape
    th, tw = h // grid, w // grid
    v = values[: th * grid, : tw * grid].reshape(grid, th, grid, tw)
    return v.mean(axis=(1, 3))


def local_contrast(image: np.ndarray, grid: int = 4) -> np.ndarray:
    """Centre-versus-surround and across-tile statistics of local image measures.

    Parameters
    ----------
    image : numpy.ndarray
        ``H×W×3`` uint8 RGB, at least ``4 * grid`` pixels per side (smaller images give NaN).
    grid : int, default=4
        Tiles per side; the central ``(grid // 2)²`` tiles are the "centre", the outer ring
        of tiles the "surround".

    Returns
    -------
    numpy.ndarray
        ``float32`` vector of ``len(LOCAL_FEATURE_NAMES)`` values: per measure of
        :data:`LOCAL_MEASURES`, centre minus surround (``_diff``; log-energies for ``hf``,
        ``mf``, ``noise`` and ``grad``, Lab units for ``l``, ``a``, ``b``) and the standard
        deviation over all tiles (``_std``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    >>> v = local_contrast(img)
    >>> v.shape, bool(abs(v[0]) < 0.2)  # uniform noise: centre and surround alike
    ((14,), True)
    >>> blurred = img.copy()
    >>> blurred[16:48, 16:48] = cv2.GaussianBlur(img, (0, 0), 2)[16:48, 16:48]
    >>> bool(local_contrast(blurred)[0] < -1)  # a soft pasted centre: less high band
    True
    """
    arr = np.asarray(image)
    if grid < 3:
        raise ValueError(f"grid must be at least 3, got {grid!r}")
    out = np.full(len(LOCAL_FEATURE_NAMES), np.nan, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 4 * grid:
        return out
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    gray = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=1)
    g1 = cv2.GaussianBlur(gray, (0, 0), 1.0)
    g2 = cv2.GaussianBlur(gray, (0, 0), 2.0)
    resid = np.abs(gray - cv2.medianBlur(gray.astype(np.uint8), 3).astype(np.float32))
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    lab = cv2.cvtColor(arr, cv2.COLOR_RGB2LAB).astype(np.float32)
    maps = {
        "hf": lap * lap,
        "mf": (g1 - g2) ** 2,
        "noise": resid,
        "grad": np.sqrt(gx * gx + gy * gy),
    }
    inner = np.zeros((grid, grid), dtype=bool)
    lo, hi = (grid - grid // 2) // 2, (grid - grid // 2) // 2 + grid // 2
    inner[lo:hi, lo:hi] = True
    ring = np.ones((grid, grid), dtype=bool)
    ring[1:-1, 1:-1] = False
    k = 0
    for name in LOCAL_MEASURES:
        if name in maps:
            tiles = np.log10(_tile_means(maps[name], grid) + _EPS)
        else:
            channel = {"l": 0, "a": 1, "b": 2}[name]
            tiles = _tile_means(lab[:, :, channel], grid)
        out[k] = tiles[inner].mean() - tiles[ring].mean()
        out[k + 1] = tiles.std()
        k += 2
    return out
