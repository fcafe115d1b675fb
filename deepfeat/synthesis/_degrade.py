"""Training-time degradations for both classes: blur, JPEG and down-scaling.

As in Wang et al., "CNN-generated images are surprisingly easy to spot... for now" (CVPR
2020): degrading real and fake training images alike keeps a detector from relying on
sharpness, compression or size, which differ between sources far more than between real
and fake, and is what made their detector transfer across generators.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ._blend import _check_image, _rng

__all__ = ["DEGRADATIONS", "degrade"]

#: The degradation kinds, in the order :func:`degrade` applies them.
DEGRADATIONS = ("blur", "jpeg", "downscale")


def degrade(
    image: np.ndarray,
    *,
    kinds: tuple[str, ...] | str | None = None,
    blur_sigma: tuple[float, float] = (0.1, 3.0),
    jpeg_quality: tuple[int, int] = (30, 100),
    scale: tuple[float, float] = (0.5, 0.9),
    random_state: Any = None,
) -> np.ndarray:
    """Blur, JPEG-compress and/or down-scale an image with random strength.

    Parameters
    ----------
    image : numpy.ndarray
        ``H×W×3`` uint8 RGB.
    kinds : str, sequence of {"blur", "jpeg", "downscale"}, or None
        What to apply (in that order); ``None`` draws one kind at random.
    blur_sigma : (low, high), default=(0.1, 3.0)
        Gaussian blur sigma range, pixels (Wang et al.: 0–3).
    jpeg_quality : (low, high), default=(30, 100)
        JPEG quality range (Wang et al.: 30–100), through OpenCV's encoder, 4:2:0.
    scale : (low, high), default=(0.5, 0.9)
        Down-scaling factor range (area interpolation); the output is smaller.
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    numpy.ndarray
        ``uint8`` RGB; the input size unless ``"downscale"`` was applied.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    >>> degrade(img, kinds="downscale", scale=(0.5, 0.5), random_state=0).shape
    (20, 20, 3)
    >>> bool((degrade(img, kinds=("blur", "jpeg"), random_state=0) != img).any())
    True
    """
    img = _check_image(image)
    rng = _rng(random_state)
    if kinds is None:
        kinds = (str(rng.choice(DEGRADATIONS)),)
    elif isinstance(kinds, str):
        kinds = (kinds,)
    unknown = [k for k in kinds if k not in DEGRADATIONS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {DEGRADATIONS}, got {kinds!r}")
    out = img
    if "blur" in kinds:
        sigma = float(rng.uniform(*blur_sigma))
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma)
    if "jpeg" in kinds:
        quality = int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
            raise RuntimeError("JPEG encoding failed")
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if "downscale" in kinds:
        f = float(rng.uniform(*scale))
        h, w = out.shape[:2]
        size = (max(8, round(w * f)), max(8, round(h * f)))
        out = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out)
