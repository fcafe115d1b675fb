"""Up-sampling pseudo-fakes: the spectral trace of a generator's decoder, made from a real.

After Zhang, Karaman & Chang, "Detecting and Simulating Artifacts in GAN Fake Images"
(AutoGAN, WIFS 2019): GAN generators and latent-diffusion decoders build an image by
repeated up-sampling (nearest, bilinear or transposed convolution, i.e. zero insertion
followed by a learnt kernel), which leaves periodic replicas of the spectrum at fractions
of the sampling rate. Down-scaling a real image and up-sampling it the way a decoder does
reproduces that trace on real content.

A decoder does not only blur: it paints fine detail back. To teach "generated" rather than
"soft", :func:`upsample_trace` can put part of the original's high-frequency detail back
(``detail``), so a pseudo-fake is as sharp as its real and differs mainly in the periodic
replicas of its low band.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ._blend import _check_image, _rng

__all__ = ["UPSAMPLE_METHODS", "upsample_trace"]

#: Up-sampling operators of generator decoders.
UPSAMPLE_METHODS = ("nearest", "bilinear", "zero")


def _zero_insert(small: np.ndarray, factor: int, rng: np.random.Generator) -> np.ndarray:
    """Transposed-convolution-like up-sampling: zero insertion, then a random small kernel."""
    h, w = small.shape[:2]
    up = np.zeros((h * factor, w * factor, small.shape[2]), dtype=np.float32)
    up[::factor, ::factor] = small
    # A random, roughly low-pass kernel of a decoder's size: a separable triangle (what
    # bilinear interpolation would use) perturbed by multiplicative noise. Only one sample
    # in factor² is non-zero, so a gain of factor² keeps the brightness.
    k = 2 * factor - 1 + 2 * int(rng.integers(0, 2))
    tri = 1.0 - np.abs(np.linspace(-1.0, 1.0, k + 2)[1:-1])
    kernel = np.outer(tri, tri) * rng.uniform(0.9, 1.1, size=(k, k))
    kernel *= factor * factor / kernel.sum()
    return cv2.filter2D(up, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT)


def upsample_trace(
    image: np.ndarray,
    *,
    factor: int | None = None,
    method: str | None = None,
    smooth: float | None = None,
    detail: float | None = None,
    random_state: Any = None,
) -> np.ndarray:
    """Down-scale a real image and up-sample it as a generator's decoder would.

    Parameters
    ----------
    image : numpy.ndarray
        ``H×W×3`` uint8 RGB.
    factor : {2, 4, 8} or None
        Down-scaling factor; ``None`` draws 2 (60 %), 4 (30 %) or 8 (10 %).
    method : {"nearest", "bilinear", "zero"} or None
        Up-sampling: nearest neighbour, bilinear, or zero insertion followed by a random
        small kernel (a transposed convolution); ``None`` draws one.
    smooth : float or None
        Sigma (pixels) of a small Gaussian smoothing after up-sampling, as the decoder's
        last convolutions do; ``None`` draws from ``[0, 0.8]``; 0 switches it off.
    detail : float or None
        Share of the original's high-frequency detail (above the down-scaled band) put
        back; ``None`` draws from ``[0, 1]``; 0 gives the plain resampled image.
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    numpy.ndarray
        ``H×W×3`` uint8, the size of ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    >>> out = upsample_trace(img, factor=2, method="zero", detail=0.0, random_state=0)
    >>> out.shape, out.dtype.name
    ((64, 48, 3), 'uint8')
    >>> near = upsample_trace(img, factor=2, method="nearest", smooth=0, detail=0)
    >>> bool((near[0::2, 0::2] == near[1::2, 1::2]).all())
    True
    """
    img = _check_image(image)
    rng = _rng(random_state)
    if factor is None:
        factor = int(rng.choice([2, 4, 8], p=[0.6, 0.3, 0.1]))
    if factor not in (2, 4, 8):
        raise ValueError(f"factor must be 2, 4 or 8, got {factor!r}")
    if method is None:
        method = str(rng.choice(UPSAMPLE_METHODS))
    if method not in UPSAMPLE_METHODS:
        raise ValueError(f"method must be one of {UPSAMPLE_METHODS}, got {method!r}")
    smooth = float(rng.uniform(0.0, 0.8)) if smooth is None else float(smooth)
    detail = float(rng.uniform(0.0, 1.0)) if detail is None else float(detail)
    if smooth < 0 or not 0.0 <= detail <= 1.0:
        raise ValueError("smooth must be >= 0 and detail in [0, 1]")
    h, w = img.shape[:2]
    small_w, small_h = max(1, -(-w // factor)), max(1, -(-h // factor))
    base = img.astype(np.float32)
    small = cv2.resize(base, (small_w, small_h), interpolation=cv2.INTER_AREA)
    if small.ndim == 2:
        small = small[:, :, None]
    big_size = (small_w * factor, small_h * factor)
    if method == "nearest":
        up = cv2.resize(small, big_size, interpolation=cv2.INTER_NEAREST)
    elif method == "bilinear":
        up = cv2.resize(small, big_size, interpolation=cv2.INTER_LINEAR)
    else:
        up = _zero_insert(small, factor, rng)
    up = up[:h, :w]
    if smooth > 0:
        up = cv2.GaussianBlur(up, (0, 0), sigmaX=smooth)
    if detail > 0:
        low = cv2.GaussianBlur(base, (0, 0), sigmaX=0.5 * factor)
        up = up + detail * (base - low)
    return np.clip(np.round(up), 0, 255).astype(np.uint8)
