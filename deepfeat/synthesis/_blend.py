"""Self-blended pseudo-fakes: a face-swap trace made from one real image.

After Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022): a
slightly transformed copy of the image (colour, sharpness, a small shift and scale) is
pasted back into the face region through a soft mask, so the result has the blending
boundary, the colour mismatch and the resampling of a face swap, but the identity, pose
and background of the real it came from.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

__all__ = ["face_mask", "self_blend"]


def _rng(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {arr.dtype} {arr.shape}")
    if min(arr.shape[:2]) < 8:
        raise ValueError(f"image too small to synthesise from: {arr.shape[1]}×{arr.shape[0]}")
    return np.ascontiguousarray(arr)


def face_mask(
    shape: tuple[int, ...],
    *,
    box: tuple[float, float, float, float] | None = None,
    landmarks: np.ndarray | None = None,
    random_state: Any = None,
) -> np.ndarray:
    """A soft, randomised face mask in ``[0, 1]`` (float32, ``H×W``).

    The mask is an ellipse around the face (from MTCNN ``landmarks``, else a face ``box``,
    else the centre of the image, where a face crop has its face), with random axes,
    rotation, a random low-frequency deformation of its outline and Gaussian feathering.

    Parameters
    ----------
    shape : tuple
        Image shape (``H, W`` or ``H, W, C``).
    box : (x0, y0, x1, y1), optional
        Face box in pixels.
    landmarks : array of shape (5, 2), optional
        Eyes, nose and mouth corners ``(x, y)``; the ellipse covers them with margin.
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    numpy.ndarray
        ``float32`` ``H×W`` mask; 0 outside, 1 inside, soft in between. It is never empty
        and never reaches beyond the image.

    Examples
    --------
    >>> m = face_mask((64, 64), random_state=0)
    >>> m.shape, float(m.max()) == 1.0, float(m[0, 0]) < 0.05
    ((64, 64), True, True)
    """
    h, w = int(shape[0]), int(shape[1])
    rng = _rng(random_state)
    if landmarks is not None:
        pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
        cx, cy = pts[:, 0].mean(), pts[:, 1].mean()
        span = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 4.0)
        ax, ay = 0.95 * span, 1.2 * span
    elif box is not None:
        x0, y0, x1, y1 = (float(v) for v in box)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ax, ay = 0.42 * (x1 - x0), 0.5 * (y1 - y0)
    else:
        side = min(h, w)  # a face crop: the face fills the centre
        cx, cy = w / 2, h / 2 + 0.03 * side
        ax, ay = 0.32 * side, 0.38 * side
    ax *= rng.uniform(0.8, 1.1)
    ay *= rng.uniform(0.8, 1.1)
    cx += rng.uniform(-0.04, 0.04) * min(h, w)
    cy += rng.uniform(-0.04, 0.04) * min(h, w)
    angle = rng.uniform(-15, 15)
    # Outline: ellipse radius modulated by a few random low harmonics.
    t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    radius = np.ones_like(t)
    for k in (2, 3, 4):
        radius += rng.uniform(-0.06, 0.06) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    rot = np.deg2rad(angle)
    ex, ey = ax * radius * np.cos(t), ay * radius * np.sin(t)
    xs = cx + ex * np.cos(rot) - ey * np.sin(rot)
    ys = cy + ex * np.sin(rot) + ey * np.cos(rot)
    poly = np.stack([np.clip(xs, 0, w - 1), np.clip(ys, 0, h - 1)], axis=1)
    mask = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 255)
    if not mask.any():  # degenerate outline: fall back to a centred disc
        cv2.circle(mask, (w // 2, h // 2), max(2, min(h, w) // 4), 255, -1)
    mask = mask.astype(np.float32) / 255.0
    # Feathering: erode a little then blur, so the soft edge stays inside the outline.
    sigma = rng.uniform(0.01, 0.06) * min(h, w)
    k = max(3, round(sigma * 2) | 1)
    mask = cv2.erode(mask, np.ones((k, k), np.uint8))
    if not mask.any():
        mask = np.zeros((h, w), np.float32)
        cv2.circle(mask, (w // 2, h // 2), max(2, min(h, w) // 4), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma)
    peak = float(mask.max())
    return np.clip(mask / peak, 0.0, 1.0).astype(np.float32)


def _colour_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32)
    gain = rng.uniform(0.9, 1.1, size=3) * rng.uniform(0.92, 1.08)
    offset = rng.uniform(-12, 12, size=3)
    out = out * gain + offset
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.88, 1.12) + mean  # contrast
    return out


def _sharpness(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur or sharpen (float in, float out)."""
    sigma = rng.uniform(0.4, 1.6)
    blurred = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma)
    if rng.random() < 0.5:
        return blurred
    return img + rng.uniform(0.3, 1.0) * (img - blurred)


def _shift_scale(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    scale = rng.uniform(0.95, 1.05)
    tx, ty = rng.uniform(-0.03, 0.03, size=2) * (w, h)
    matrix = np.array(
        [[scale, 0, (1 - scale) * w / 2 + tx], [0, scale, (1 - scale) * h / 2 + ty]],
        dtype=np.float64,
    )
    interp = cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_CUBIC
    return cv2.warpAffine(img, matrix, (w, h), flags=interp, borderMode=cv2.BORDER_REFLECT)


def self_blend(
    image: np.ndarray,
    *,
    box: tuple[float, float, float, float] | None = None,
    landmarks: np.ndarray | None = None,
    random_state: Any = None,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Blend a transformed copy of the face back into the image (a self-blended pseudo-fake).

    The source copy gets random colour and brightness jitter, a blur or a sharpening, and a
    small scale and shift; it is blended into the original through :func:`face_mask` with
    a random blend ratio (the mask's peak), as in self-blended images (SBI).

    Parameters
    ----------
    image : numpy.ndarray
        ``H×W×3`` uint8 RGB, at least 8 px per side.
    box, landmarks : optional
        Where the face is (see :func:`face_mask`); default: the image centre.
    random_state : int, numpy.random.Generator or None
        Same seed, same image → the same result, byte for byte.
    return_mask : bool, default=False
        Also return the blend mask actually used (float32 ``H×W``, peak = blend ratio).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        The pseudo-fake, ``H×W×3`` uint8, same size as ``image``; with ``return_mask`` the
        mask too.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    >>> fake, mask = self_blend(img, random_state=1, return_mask=True)
    >>> fake.shape, fake.dtype.name, bool((fake != img).any()), float(mask[0, 0]) < 0.05
    ((64, 64, 3), 'uint8', True, True)
    """
    img = _check_image(image)
    rng = _rng(random_state)
    base = img.astype(np.float32)
    source = _colour_jitter(base, rng)
    source = _sharpness(source, rng)
    source = _shift_scale(source, rng)
    mask = face_mask(img.shape, box=box, landmarks=landmarks, random_state=rng)
    mask *= rng.choice([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    out = base * (1.0 - mask[..., None]) + source * mask[..., None]
    fake = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return (fake, mask) if return_mask else fake
