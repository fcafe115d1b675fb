"""Frequency-domain features: azimuthally averaged Fourier spectra and 8×8 block-DCT statistics.

Up-sampling generators (GAN decoders, face-swap auto-encoders) do not reproduce the
high-frequency part of natural image spectra: transposed convolutions replicate the low
band into the high band, nearest-neighbour or bilinear up-sampling attenuates it. The 1-D
azimuthal average of the 2-D Fourier spectrum captures this in a few dozen numbers
(Durall, Keuper, Pfreundt & Keuper, "Unmasking DeepFakes with simple Features",
arXiv:1911.00686, 2019; Durall, Keuper & Keuper, "Watch your Up-Convolution: CNN Based
Generative Deep Neural Networks are Failing to Reproduce Spectral Distributions",
CVPR 2020).

Public functions
----------------
:func:`radial_spectrum`
    One image → one 1-D spectrum (``mode="power"``, the default, or the published
    ``mode="durall"`` recipe).
:func:`block_dct_features`
    One image → statistics of its 8×8 block DCT (JPEG-grid traces).
:func:`spectrum_vector`
    One image → the row of :class:`~deepfeat.FFTSpectrum` (spectrum, then optional DCT and
    local statistics).

The scikit-learn transformer :class:`~deepfeat.FFTSpectrum` lives in
:mod:`deepfeat.features._fft`; this module imports only numpy and scipy, so worker
processes that compute spectra start without importing scikit-learn.

Nothing is computed at import time; the per-shape frequency-bin tables are built on first
use and cached (:func:`functools.lru_cache`).
"""

from __future__ import annotations

import numbers
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.fft as sfft

__all__ = [
    "DCT_FEATURE_NAMES",
    "block_dct_features",
    "radial_spectrum",
    "spectrum_vector",
]

Mode = Literal["power", "durall"]
Channels = Literal["gray", "rgb"]
Residual = Literal["median", "gaussian"]

MODES = ("power", "durall")
CHANNELS = ("gray", "rgb")
RESIDUALS = (None, "median", "gaussian")

#: Floor of the ``power`` mode annulus mean before ``log10`` (a constant image gives -12).
POWER_FLOOR = 1e-12
#: The ``durall`` mode epsilon added to ``|F|`` before the logarithm (as in the paper's code).
DURALL_EPSILON = 1e-8
#: Standard deviation (px) of the blur subtracted by ``residual="gaussian"`` (5×5 kernel).
GAUSSIAN_SIGMA = 1.0
#: A block-DCT coefficient is "near zero" below this magnitude (luminance in 0..255,
#: orthonormal DCT): pixel rounding alone leaves an rms of 0.29 on a zeroed coefficient.
DCT_ZERO_THRESHOLD = 0.5
#: Added to both means of the blockiness ratio, so flat images give ``log(1) = 0``.
BLOCKINESS_EPSILON = 1e-3

DCT_FEATURE_NAMES: tuple[str, ...] = (
    *(f"dct_mag_{k:02d}" for k in range(64)),
    *(f"dct_zero_{k:02d}" for k in range(64)),
    "dct_block_h",
    "dct_block_v",
)
"""Names (without the ``fft_`` prefix) of the :func:`block_dct_features` values, in order."""


# --------------------------------------------------------------------------------------
# parameter checks and input normalisation
# --------------------------------------------------------------------------------------
def _check_params(n_bins: Any, mode: Any, channels: Any, residual: Any, max_side: Any) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if channels not in CHANNELS:
        raise ValueError(f"channels must be one of {CHANNELS}, got {channels!r}")
    if residual not in RESIDUALS:
        raise ValueError(f"residual must be one of {RESIDUALS}, got {residual!r}")
    if max_side is not None and (
        isinstance(max_side, bool) or not isinstance(max_side, numbers.Integral) or max_side < 1
    ):
        raise ValueError(f"max_side must be None or a positive integer, got {max_side!r}")


def _as_float_image(image: Any, max_side: int | None = None, align: int = 1) -> np.ndarray:
    """Central crop (see :func:`_center_crop`) as ``H×W`` or ``H×W×3`` float32 in ``[0, 1]``."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or min(arr.shape[:2]) < 1:
        raise ValueError(f"expected an H×W, H×W×1, H×W×3 or H×W×4 image, got shape {arr.shape}")
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind not in "buif":
        raise ValueError(f"unsupported image dtype {arr.dtype}")
    arr = _center_crop(arr, max_side, align)  # before the float copy: cheap on big photos
    out = arr.astype(np.float32)
    if kind == "f":
        if not np.all(np.isfinite(out)):
            raise ValueError("image contains NaN or infinite values")
    elif kind == "u" and size == 2:
        out *= np.float32(1 / 65535)
    elif kind in "iu":
        out *= np.float32(1 / 255)
    return out


def _center_crop(arr: np.ndarray, max_side: int | None, align: int = 1) -> np.ndarray:
    """Central ``min(H, max_side) × min(W, max_side)`` window (offsets multiples of ``align``)."""
    if max_side is None:
        return arr
    h, w = arr.shape[:2]
    ch, cw = min(h, max_side), min(w, max_side)
    top = (h - ch) // 2 // align * align
    left = (w - cw) // 2 // align * align
    return arr[top : top + ch, left : left + cw]


def _luminance(arr: np.ndarray) -> np.ndarray:
    """BT.601 luma of an ``H×W×3`` float32 array (``H×W`` arrays are returned as they are)."""
    if arr.ndim == 2:
        return np.ascontiguousarray(arr, dtype=np.float32)
    import cv2  # lazy; cvtColor on float32 applies the BT.601 weights without rounding

    return cv2.cvtColor(np.ascontiguousarray(arr, dtype=np.float32), cv2.COLOR_RGB2GRAY)


def _planes(image: Any, channels: str, max_side: int | None) -> np.ndarray:
    """Cropped float32 ``[0, 1]`` planes, shape ``(1, h, w)`` (luma) or ``(3, h, w)`` (RGB)."""
    arr = _as_float_image(image, max_side)
    if channels == "gray":
        return _luminance(arr)[None]
    if arr.ndim == 2:
        return np.repeat(arr[None], 3, axis=0)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _high_pass(planes: np.ndarray, residual: str | None) -> np.ndarray:
    """``plane - blur(plane)``: 3×3 median or 5×5 Gaussian (σ = 1 px), reflect-101 border."""
    if residual is None:
        return planes
    import cv2  # lazy: only the residual needs OpenCV

    out = np.empty_like(planes, dtype=np.float32)
    for i, plane in enumerate(planes):
        src = np.ascontiguousarray(plane, dtype=np.float32)
        if residual == "median":
            blurred = cv2.medianBlur(src, 3)
        else:
            blurred = cv2.GaussianBlur(
                src, (5, 5), GAUSSIAN_SIGMA, GAUSSIAN_SIGMA, borderType=cv2.BORDER_REFLECT_101
            )
        np.subtract(src, blurred, out=out[i])
    return out


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


# --------------------------------------------------------------------------------------
# mode="power"
# --------------------------------------------------------------------------------------
def _sine_window(n: int) -> np.ndarray:
    """Half-sample-shifted Hann window ``sin²(π (i + ½) / n)``: symmetric, never zero."""
    return np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2


class _PowerPlan(NamedTuple):
    window: np.ndarray  # (h, w) float32
    window_sum: float  # Σ w
    operator: Any  # sparse (n_bins, 2 h (w//2+1)): squared rfft2 floats -> annulus mean power
    empty: np.ndarray  # (n_bins,) bool: annuli without any coefficient


@lru_cache(maxsize=64)
def _power_plan(h: int, w: int, n_bins: int) -> _PowerPlan:
    """Window and annulus operator for an ``h×w`` plane (cached per shape and ``n_bins``)."""
    import scipy.sparse as sparse

    win = np.outer(_sine_window(h), _sine_window(w))
    wc = w // 2 + 1
    fy = sfft.fftfreq(h)[:, None]
    fx = sfft.rfftfreq(w)[None, :]
    radius = np.sqrt(fy * fy + fx * fx)  # cycles per pixel
    bins = np.floor(radius * (2 * n_bins) + 1e-9).astype(np.intp)
    bins = np.minimum(bins, n_bins - 1)  # radius == 0.5 exactly (Nyquist) -> last bin
    bins[radius > 0.5 + 1e-12] = n_bins  # corners beyond Nyquist: not used
    bins[0, 0] = n_bins  # DC: the mean brightness, removed before the FFT
    # rfft2 keeps columns 0 … w//2; columns 1 … ceil(w/2)-1 also stand for their conjugate
    # partner (h - ky, w - kx), which has the same radius, so they count twice.
    weights = np.ones((h, wc))
    weights[:, 1 : (w - 1) // 2 + 1] = 2.0
    counts = np.bincount(bins.ravel(), weights=weights.ravel(), minlength=n_bins + 1)[:n_bins]
    empty = counts == 0
    # Mean power of annulus b = Σ_c weight_c (Re² + Im²)_c / (count_b Σ w²): one sparse
    # matrix-vector product on the squared float32 view of the complex spectrum (a weighted
    # np.bincount, folded into a matrix: about twice as fast).
    used = (bins < n_bins).ravel()
    coef = np.flatnonzero(used)
    b = bins.ravel()[coef]
    scale = weights.ravel()[coef] / (counts[b] * float((win * win).sum()))
    operator = sparse.csr_array(
        (
            np.repeat(scale, 2).astype(np.float32),
            (np.repeat(b, 2), np.stack([2 * coef, 2 * coef + 1], axis=1).ravel()),
        ),
        shape=(n_bins, 2 * h * wc),
    )
    window = win.astype(np.float32)
    _readonly(window, empty)
    return _PowerPlan(window, float(win.sum()), operator, empty)


def _power_profile(planes: np.ndarray, n_bins: int) -> np.ndarray:
    """``log10`` mean windowed power per radial-frequency annulus, shape ``(k, n_bins)``."""
    k, h, w = planes.shape
    plan = _power_plan(h, w, n_bins)
    window = plan.window
    out = np.empty((k, n_bins))
    # One plane at a time: batching the FFT of 3 planes is slower here (the larger
    # temporaries are returned to the OS and page-faulted back on every image).
    for i, plane in enumerate(planes):
        mean = np.vdot(plane, window) / plan.window_sum  # window-weighted mean
        xw = plane - np.float32(mean)
        xw *= window
        sq = sfft.rfft2(xw).view(np.float32).reshape(-1)  # complex64 as (re, im) pairs
        sq *= sq
        out[i] = plan.operator @ sq
    np.log10(np.maximum(out, POWER_FLOOR), out=out)
    out[:, plan.empty] = np.nan
    return out


# --------------------------------------------------------------------------------------
# mode="durall"
# --------------------------------------------------------------------------------------
class _DurallPlan(NamedTuple):
    operator: Any  # sparse (n_rings - 1, h (w//2+1)): log-magnitudes -> ring means 1 … M-1
    n_profile: int  # number of rings in the profile (M - 1, or 0)


@lru_cache(maxsize=64)
def _durall_plan(h: int, w: int) -> _DurallPlan:
    """Ring-mean operator of the released azimuthalAverage on the rfft2 half plane."""
    import scipy.sparse as sparse

    # Integer ring of every position of the fftshift-ed full spectrum, measured from the
    # (fractional) centre ((w-1)/2, (h-1)/2) as the released radialProfile.py does.
    ys = np.arange(h)[:, None] - (h - 1) / 2.0
    xs = np.arange(w)[None, :] - (w - 1) / 2.0
    rings_shifted = np.floor(np.hypot(xs, ys)).astype(np.intp)
    m = int(rings_shifted.max())
    n_profile = max(m - 1, 0)
    rings = sfft.ifftshift(rings_shifted)  # ring of the unshifted coefficient (ky, kx)
    counts = np.bincount(rings.ravel(), minlength=m + 1).astype(np.float64)
    wc = w // 2 + 1
    # Every stored coefficient adds its value to its own ring and, for columns
    # 1 … ceil(w/2)-1, to the ring of its conjugate partner (-ky, w-kx) (same |F|): the
    # rings are not symmetric about the DC term, so the partner can lie in another ring.
    direct = rings[:, :wc]
    partner_cols = np.arange(1, (w - 1) // 2 + 1)
    mirror = rings[((-np.arange(h)) % h)[:, None], (w - partner_cols)[None, :]]
    cols = np.arange(h * wc).reshape(h, wc)
    ring_idx = np.concatenate([direct.ravel(), mirror.ravel()])
    col_idx = np.concatenate([cols.ravel(), cols[:, partner_cols].ravel()])
    keep = (ring_idx >= 1) & (ring_idx <= m - 1)  # the released code drops ring 0 and ring M
    ring_idx, col_idx = ring_idx[keep], col_idx[keep]
    operator = sparse.csr_array(
        (1.0 / counts[ring_idx], (ring_idx - 1, col_idx)), shape=(n_profile, h * wc)
    )
    return _DurallPlan(operator, n_profile)


@lru_cache(maxsize=64)
def _resample_matrix(n_rings: int, n_bins: int) -> np.ndarray:
    """Linear map of the paper's ``griddata(linspace(0, N, L), p, linspace(0, N, N), 'cubic')``.

    Interpolation with a fixed not-a-knot cubic spline is linear in the data, so the
    ``(n_bins, L)`` matrix is built once per ``(L, N)`` by interpolating the unit vectors
    (``interp1d(kind="cubic")``, which 1-D ``griddata`` calls, is the same spline).
    Profiles with 2 or 3 points are resampled linearly (too few for a cubic spline), a
    single point is repeated, and no point at all gives NaN.
    """
    xi = np.linspace(0, n_bins, num=n_bins)
    if n_rings == 0:
        mat = np.full((n_bins, 0), np.nan)
    elif n_rings == 1:
        mat = np.ones((n_bins, 1))
    else:
        points = np.linspace(0, n_bins, num=n_rings)
        eye = np.eye(n_rings)
        if n_rings < 4:
            mat = np.stack([np.interp(xi, points, e) for e in eye], axis=1)
        else:
            from scipy.interpolate import make_interp_spline  # lazy: only durall needs it

            mat = make_interp_spline(points, eye, k=3, axis=0)(xi)
    _readonly(mat)
    return mat


def _durall_profile(planes: np.ndarray, n_bins: int) -> np.ndarray:
    """Durall et al.'s normalised azimuthal average of ``20 ln(|F| + 1e-8)``, ``(k, n_bins)``."""
    k, h, w = planes.shape
    plan = _durall_plan(h, w)
    resample = _resample_matrix(plan.n_profile, n_bins)
    out = np.full((k, n_bins), np.nan)
    if plan.n_profile == 0:  # every position in ring 0 or the outermost ring (≤ 3×3 px)
        return out
    for i, plane in enumerate(planes):
        x = plane.astype(np.float64)
        x *= 255.0  # the paper works on 0..255 gray levels
        # The mean only changes F(0, 0), which always lies in the dropped ring 0; removing
        # it keeps the dynamic range of the FFT small.
        x -= x.mean()
        logmag = np.abs(sfft.rfft2(x)).reshape(-1)
        logmag += DURALL_EPSILON
        np.log(logmag, out=logmag)
        logmag *= 20.0
        profile = plan.operator @ logmag  # rings 1 … M-1
        resampled = resample @ profile
        first = resampled[0]
        if np.isfinite(first) and first != 0:
            out[i] = resampled / first
    return out


# --------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------
def radial_spectrum(
    image: np.ndarray,
    *,
    n_bins: int = 64,
    mode: Mode = "power",
    channels: Channels = "gray",
    residual: Residual | None = None,
    max_side: int | None = 256,
) -> np.ndarray:
    r"""Azimuthally averaged Fourier spectrum of an image.

    Parameters
    ----------
    image : numpy.ndarray
        ``H×W`` (luminance), ``H×W×1``, ``H×W×3`` (RGB) or ``H×W×4`` (alpha dropped).
        ``uint8`` values are divided by 255, ``uint16`` by 65535, other integers by 255;
        floats are used as they are (expected in ``[0, 1]``) and must be finite.
    n_bins : int, default=64
        Length of the spectrum (per channel).
    mode : {"power", "durall"}, default="power"
        ``"power"``: windowed log10 power in fixed radial-frequency bins (see Notes).
        ``"durall"``: the published recipe of Durall et al. (2019, 2020), see Notes.
    channels : {"gray", "rgb"}, default="gray"
        ``"gray"``: the BT.601 luminance ``0.299 R + 0.587 G + 0.114 B``. ``"rgb"``: one
        spectrum per channel, concatenated as ``[R, G, B]`` (a gray input gives three
        identical spectra).
    residual : {None, "median", "gaussian"}, default=None
        Replace each plane by a high-pass residual before the FFT: the plane minus its
        3×3 median, or minus a 5×5 Gaussian blur with σ = 1 px (reflect-101 borders).
        The median residual is non-linear and suppresses image content; the Gaussian one
        is a fixed linear filter (its spectrum is the plain one times ``|1 - G(f)|²``).
    max_side : int or None, default=256
        Use at most the central ``max_side × max_side`` pixels (never a resize, which
        would erase the traces looked for); smaller images are used whole. Applies to both
        modes; ``None`` uses the whole image (cost grows with the pixel count).

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(n_bins,)``, or ``(3 * n_bins,)`` with ``channels="rgb"``.

    Notes
    -----
    **mode="power"** (resolution independent). On the cropped ``h×w`` plane ``x`` (values
    in ``[0, 1]``), with the separable window
    ``w[i, j] = sin²(π(i + ½)/h) · sin²(π(j + ½)/w)`` (a Hann window shifted by half a
    sample: symmetric, so 90° rotations and flips leave the spectrum unchanged exactly,
    and never zero, so 3-pixel images keep their content) and the window-weighted mean
    ``μ = Σ w x / Σ w``:

    .. math::

        P(k) = |\mathrm{DFT}_2[w (x - μ)](k)|^2 / \textstyle\sum w^2, \qquad
        f(k) = \sqrt{(k_y / h)^2 + (k_x / w)^2} \ \text{cycles/pixel},

    and bin ``j`` (``0 ≤ j < n_bins``) is ``log10(max(mean{P(k) : j ≤ 2 n_bins f(k) < j+1},
    1e-12))`` over the full Fourier plane, the last bin also holding ``f = 0.5``; the
    corners ``f > 0.5`` and the DC term (the brightness, removed) are left out. So a bin
    means the same frequency for every image size; white noise of variance ``σ²`` gives
    ``log10 σ²`` in every bin (the lowest bins a little less: removing the weighted mean
    also removes part of the power of the DC term's neighbours), and a power law
    ``P ∝ f^-α`` gives a log-log slope of ``-α``. Every bin holds coefficients when both
    sides exceed ``2 n_bins`` px; in smaller images some bins may be empty (bin 0 is when
    neither side exceeds ``2 n_bins`` px) and are NaN, never 0 or inf. A constant image
    gives ``-12`` in every non-empty bin.

    The plane goes through ``scipy.fft.rfft2`` in float32, which keeps the columns
    ``k_x = 0 … ⌊w/2⌋`` of the Fourier plane; the columns ``1 … ⌈w/2⌉-1`` also stand for
    their conjugate partner ``(-k_y, -k_x)`` (same power, same radius) and are weighted 2,
    the others 1. The annulus means are one cached sparse matrix-vector product on the
    squared real and imaginary parts (a weighted ``np.bincount`` folded into a matrix with
    the ``1 / (count · Σ w²)`` normalisation), cached per ``(h, w, n_bins)``.

    **mode="durall"** (comparable with the paper). As in the released code
    (github.com/cc-hpc-itwm/DeepFakeDetection, ``radialProfile.azimuthalAverage`` and the
    feature notebooks): on the gray levels ``g`` (0…255, unwindowed),
    ``S = 20 · ln(|fftshift(FFT2(g))| + 1e-8)`` (natural log despite the factor 20; the
    released code adds ``1e-8`` to the complex coefficients instead, which differs only
    where ``|F| ≈ 0``); ring ``r`` holds the positions whose distance to the centre
    ``((w-1)/2, (h-1)/2)`` has integer part ``r`` (for even sizes that centre is half a
    pixel off the DC term, as in the released code, which also takes both coordinates
    from the width, a bug not reproduced for non-square images); the profile ``p`` is the
    mean of ``S`` over rings ``1 … M-1`` (``M`` the largest ring: the released code's
    cumulative-sum indexing drops ring 0 and the outermost ring). ``p`` is resampled to
    ``n_bins`` points with a not-a-knot cubic spline from ``linspace(0, N, len(p))`` to
    ``linspace(0, N, N)`` (their ``scipy.interpolate.griddata(..., method="cubic")``) and
    divided by its first value (their ``interpolated /= interpolated[0]``). Profiles with
    fewer than 4 rings (images under about 8 px) are resampled linearly; with no ring at
    all, or a zero first value, the result is NaN. A constant image gives 1.0 everywhere.
    Luminance uses the BT.601 weights without rounding (the paper decodes to 8-bit gray
    with ``cv2.imread(path, 0)``); the FFT runs in float64.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(0.5, 0.1, size=(128, 128))
    >>> spec = radial_spectrum(noise, n_bins=16)
    >>> spec.shape, spec.dtype
    ((16,), dtype('float32'))
    >>> bool(np.all(np.abs(spec[1:] - np.log10(0.01)) < 0.15))  # white: flat at log10(σ²)
    True
    >>> float(radial_spectrum(noise, n_bins=16, mode="durall")[0])  # divided by the first ring
    1.0
    """
    _check_params(n_bins, mode, channels, residual, max_side)
    profile = _power_profile if mode == "power" else _durall_profile
    planes = _high_pass(_planes(image, channels, max_side), residual)
    return profile(planes, int(n_bins)).astype(np.float32).reshape(-1)


def _blockiness(steps: np.ndarray) -> float:
    """``ln((a + ε) / (b + ε))``: mean step across 8-px boundaries ``a`` vs elsewhere ``b``."""
    boundary = (np.arange(steps.size) % 8) == 7  # step between pixel 8m-1 and 8m
    a = steps[boundary].mean()
    b = steps[~boundary].mean()
    return float(np.log((a + BLOCKINESS_EPSILON) / (b + BLOCKINESS_EPSILON)))


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """Orthonormal 8-point DCT-II matrix ``C`` (``C @ C.T == I``), as JPEG uses."""
    k = np.arange(8)[:, None]
    n = np.arange(8)[None, :]
    c = np.sqrt(2 / 8) * np.cos(np.pi * (2 * n + 1) * k / 16)
    c[0] /= np.sqrt(2)
    c = c.astype(np.float32)
    _readonly(c)
    return c


def block_dct_features(image: np.ndarray, *, max_side: int | None = 256) -> np.ndarray:
    """Statistics of the 8×8 block DCT of the luminance (traces of the JPEG grid).

    The luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` (0…255) is cut into the 8×8 blocks
    of the grid anchored at the top-left pixel, as JPEG does, and each block ``B - 128``
    is transformed with the orthonormal 2-D DCT-II (``D = C (B - 128) Cᵀ``, JPEG's own
    scaling). Only complete blocks are used, from a central window of at most
    ``max_side`` pixels whose offsets are multiples of 8 (so the grid phase is kept).

    Parameters
    ----------
    image : numpy.ndarray
        ``H×W`` or ``H×W×3`` image, scaled as in :func:`radial_spectrum` (``uint8``
        0…255 or float ``[0, 1]``).
    max_side : int or None, default=256
        Side of the central window; ``None`` uses the whole image.

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(130,)``, named by :data:`DCT_FEATURE_NAMES`:

        - ``dct_mag_00 … dct_mag_63``: ``ln(1 + mean |D(u, v)|)`` over the blocks, for the
          coefficient ``8 u + v`` (``u`` vertical, ``v`` horizontal frequency, ``00`` = DC);
        - ``dct_zero_00 … dct_zero_63``: fraction of blocks with ``|D(u, v)| < 0.5``
          (coefficients that a JPEG quantiser set to zero stay near zero after decoding);
        - ``dct_block_h``, ``dct_block_v``: blockiness, ``ln((a + 1e-3) / (b + 1e-3))``
          with ``a`` the mean absolute luminance step across the vertical (resp.
          horizontal) 8-px block boundaries and ``b`` the mean step between the other
          neighbouring columns (rows); 0 for an image without a grid.

        Images smaller than 8 px on a side give NaN (no complete block); the blockiness of
        a direction with fewer than two blocks is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((32, 32), 0.5)
    >>> feats = block_dct_features(flat)
    >>> feats.shape, round(float(feats[1]), 6), float(feats[64 + 1]), float(feats[-1])
    ((130,), 0.0, 1.0, 0.0)
    """
    if max_side is not None and (
        isinstance(max_side, bool) or not isinstance(max_side, numbers.Integral) or max_side < 1
    ):
        raise ValueError(f"max_side must be None or a positive integer, got {max_side!r}")
    y = _luminance(_as_float_image(image, max_side, align=8)) * np.float32(255)
    h8, w8 = y.shape[0] // 8 * 8, y.shape[1] // 8 * 8
    out = np.full(len(DCT_FEATURE_NAMES), np.nan, dtype=np.float64)
    if h8 == 0 or w8 == 0:
        return out.astype(np.float32)
    y = y[:h8, :w8]
    c = _dct_matrix()
    nby, nbx = h8 // 8, w8 // 8
    # D = C (B - 128) Cᵀ for every block at once: C on the 8 rows of each block row, then
    # Cᵀ on each run of 8 columns, as two plain matrix products; axes (by, u, bx, v)
    rows = np.matmul(c, (y - np.float32(128)).reshape(nby, 8, w8))
    coef = np.abs((rows.reshape(-1, 8) @ c.T).reshape(nby, 8, nbx, 8))
    n_blocks = nby * nbx
    # reduce over block rows first (contiguous), then over block columns
    out[:64] = np.log1p(coef.sum(axis=0).sum(axis=1, dtype=np.float64).ravel() / n_blocks)
    zero = (coef < DCT_ZERO_THRESHOLD).sum(axis=0).sum(axis=1)
    out[64:128] = zero.ravel() / n_blocks
    if w8 >= 16:  # steps between neighbouring columns; boundary: columns 8m-1 | 8m
        steps = np.abs(y[:, 1:] - y[:, :-1]).sum(axis=0).astype(np.float64) / h8
        out[128] = _blockiness(steps)
    if h8 >= 16:  # steps between neighbouring rows
        steps = np.abs(y[1:] - y[:-1]).sum(axis=1).astype(np.float64) / w8
        out[129] = _blockiness(steps)
    return out.astype(np.float32)


# --------------------------------------------------------------------------------------
# one image's row (the kernel of FFTSpectrum, which lives in _fft.py)
# --------------------------------------------------------------------------------------
def spectrum_vector(
    image: np.ndarray,
    *,
    n_bins: int = 64,
    mode: Mode = "power",
    channels: Channels = "gray",
    residual: Residual | None = None,
    dct: bool = False,
    max_side: int | None = 256,
    local: bool = False,
) -> np.ndarray:
    """One image's row of :class:`~deepfeat.FFTSpectrum`: spectrum, DCT stats, local stats.

    Parameters
    ----------
    image : numpy.ndarray
        ``H×W×3`` uint8 RGB (or anything :func:`radial_spectrum` accepts).
    n_bins, mode, channels, residual, max_side
        See :func:`radial_spectrum`.
    dct : bool, default=False
        Append the 130 :func:`block_dct_features`.
    local : bool, default=False
        Append the 14 centre-versus-surround statistics of
        :func:`~deepfeat.features._local_kernel.local_contrast` (whole image, not cropped).

    Returns
    -------
    numpy.ndarray
        ``float32`` vector.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    >>> spectrum_vector(img, n_bins=16, dct=True).shape
    (146,)
    """
    spec = radial_spectrum(
        image, n_bins=n_bins, mode=mode, channels=channels, residual=residual, max_side=max_side
    )
    if dct:
        spec = np.concatenate([spec, block_dct_features(image, max_side=max_side)])
    if local:
        from ._local_kernel import local_contrast

        spec = np.concatenate([spec, local_contrast(image)])
    return spec.astype(np.float32, copy=False)
