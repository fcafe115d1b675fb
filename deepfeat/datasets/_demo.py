"""``make_demo_dataset``: a small synthetic real/fake image set the package makes itself."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["make_demo_dataset"]


def _pink_noise(rng: np.random.Generator, size: int, alpha: float) -> np.ndarray:
    """A size×size×3 field with a 1/f^alpha power spectrum, scaled to 0..255."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0 / size
    amplitude = radius ** (-alpha / 2.0)
    out = np.empty((size, size, 3), dtype=np.float64)
    base = rng.standard_normal((size, size // 2 + 1)) + 1j * rng.standard_normal(
        (size, size // 2 + 1)
    )
    for c in range(3):
        jitter = rng.standard_normal((size, size // 2 + 1)) + 1j * rng.standard_normal(
            (size, size // 2 + 1)
        )
        spec = (base + 0.35 * jitter) * amplitude
        field = np.fft.irfft2(spec, s=(size, size))
        field = (field - field.mean()) / (field.std() + 1e-12)
        out[:, :, c] = field
    return out


def _camera_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A photo-like image: 1/f content, a soft face-like ellipse, sensor noise."""
    field = _pink_noise(rng, size, alpha=rng.uniform(1.8, 2.4))
    tint = rng.uniform(90, 170, size=3)
    img = tint + 38.0 * field
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx = rng.uniform(0.4, 0.6, size=2)
    ry, rx = rng.uniform(0.25, 0.35), rng.uniform(0.18, 0.26)
    face = np.exp(-((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) ** 2))
    skin = np.array([205.0, 160.0, 135.0]) + rng.uniform(-25, 25, size=3)
    img = img * (1 - 0.7 * face[:, :, None]) + skin * 0.7 * face[:, :, None]
    img += rng.normal(0.0, rng.uniform(2.0, 4.0), size=img.shape)  # shot/read noise
    return np.clip(img, 0, 255).astype(np.uint8)


def _generator_image(rng: np.random.Generator, real: np.ndarray) -> tuple[np.ndarray, str]:
    """Simulate an up-sampling generator: down-sample, then nearest or transposed-conv up."""
    import cv2

    size = real.shape[0]
    factor = int(rng.choice([2, 4]))
    small = cv2.resize(real, (size // factor, size // factor), interpolation=cv2.INTER_AREA)
    method = str(rng.choice(["nearest", "transposed_conv"]))
    if method == "nearest":
        up = np.repeat(np.repeat(small, factor, axis=0), factor, axis=1).astype(np.float64)
    else:
        # zero insertion followed by a fixed small kernel (a transposed convolution with a
        # kernel that is not a perfect interpolator leaves a checkerboard at the stride)
        up = np.zeros((size, size, 3), dtype=np.float64)
        up[::factor, ::factor] = small
        k1 = np.array([0.5, 1.0, 1.0, 0.5])[: factor + 1] if factor == 2 else np.ones(factor)
        kernel = np.outer(k1, k1)
        kernel = kernel / kernel.sum() * factor * factor
        up = cv2.filter2D(up, -1, kernel, borderType=cv2.BORDER_REFLECT)
    up = cv2.GaussianBlur(up, (3, 3), 0.6)
    up += rng.normal(0.0, 0.8, size=up.shape)
    return np.clip(up, 0, 255).astype(np.uint8), f"{method}_x{factor}"


def _camera_exif(rng: np.random.Generator, index: int):
    from PIL import Image

    exif = Image.Exif()
    make, model = [
        ("Canon", "Canon EOS 80D"),
        ("NIKON CORPORATION", "NIKON D750"),
        ("Apple", "iPhone 12"),
        ("SONY", "ILCE-7M3"),
    ][int(rng.integers(4))]
    exif[0x010F] = make  # Make
    exif[0x0110] = model  # Model
    stamp = f"2021:0{1 + index % 9}:{10 + index % 18:02d} 1{index % 10}:2{index % 10}:00"
    exif[0x0132] = stamp  # DateTime
    exif[0x0131] = "Firmware Version 1.0.2"  # Software
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = stamp  # DateTimeOriginal
    sub[0x829A] = (1, int(rng.choice([60, 125, 250, 500])))  # ExposureTime
    sub[0x829D] = (int(rng.choice([18, 28, 40, 56])), 10)  # FNumber
    sub[0x8827] = int(rng.choice([100, 200, 400, 800]))  # ISO
    sub[0x920A] = (int(rng.choice([24, 35, 50, 85])), 1)  # FocalLength
    return exif


def make_demo_dataset(
    root: str | os.PathLike,
    n_images: int = 200,
    *,
    fake_fraction: float = 0.8,
    image_size: int = 128,
    random_state: int | None = 0,
) -> Path:
    """Write a small labelled, synthetic real-vs-fake image set (no third-party images).

    *Real* images behave like camera photos: a 1/f^α power spectrum, a soft face-like blob,
    sensor-like noise, JPEG with camera-like EXIF (Make, Model, exposure …). *Fake* images
    are made from a real one by a simulated up-sampling generator (down-sampling by 2 or 4,
    then nearest-neighbour or transposed-convolution-style up-sampling and light smoothing,
    blended back with the source at a random strength), which leaves the high-frequency
    traces described by Durall et al. (2020). To keep every cue imperfect, a quarter of the
    real photos have no EXIF, one fake in ten carries camera-like EXIF, and both classes use
    JPEG qualities 75–95. Each fake keeps its source image's ``group``, like a DFDC face swap
    and its source video.

    This set demonstrates the pipeline end to end; it is **not** a benchmark, and numbers
    measured on it say nothing about real deepfakes.

    Parameters
    ----------
    root : str or path-like
        Output folder (created). ``real/``, ``fake/`` and ``manifest.csv`` are written.
    n_images : int, default=200
        Total number of images (at least 4).
    fake_fraction : float, default=0.8
        Share of fakes, about 80 % like DFDC.
    image_size : int, default=128
        Side of the square images (a multiple of 4).
    random_state : int or None, default=0
        Seed; the same seed writes byte-identical files.

    Returns
    -------
    pathlib.Path
        ``root``; read it with :func:`load_dataset`.

    Examples
    --------
    >>> import tempfile
    >>> root = make_demo_dataset(tempfile.mkdtemp(), n_images=10, random_state=0)
    >>> sorted(p.name for p in root.iterdir())
    ['fake', 'manifest.csv', 'real']
    """
    from PIL import Image

    if n_images < 4:
        raise ValueError("n_images must be at least 4")
    if not 0.0 < fake_fraction < 1.0:
        raise ValueError("fake_fraction must be strictly between 0 and 1")
    if image_size < 16 or image_size % 4:
        raise ValueError("image_size must be a multiple of 4, at least 16")
    root = Path(root)
    (root / "real").mkdir(parents=True, exist_ok=True)
    (root / "fake").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(random_state)
    n_fake = min(n_images - 2, max(2, round(n_images * fake_fraction)))
    n_real = n_images - n_fake
    rows = []
    reals = []
    for i in range(n_real):
        img = _camera_image(rng, image_size)
        reals.append(img)
        rel = f"real/real_{i:04d}.jpg"
        # a quarter of the real photos lost their EXIF on the way (messengers, social media)
        exif = _camera_exif(rng, i) if i % 4 != 3 else None
        Image.fromarray(img).save(
            root / rel,
            format="JPEG",
            quality=int(rng.integers(75, 96)),
            **({"exif": exif} if exif is not None else {}),
        )
        rows.append({"path": rel, "label": "real", "group": f"src{i:04d}", "generator": ""})
    for j in range(n_fake):
        src = j % n_real
        base = reals[src]
        # a face-swap-like variant of the source: same scene, re-rendered through the generator
        # and blended back, so the traces are present but not always strong
        shift = rng.integers(-image_size // 16, image_size // 16 + 1, size=2)
        moved = np.roll(base, tuple(int(s) for s in shift), axis=(0, 1))
        fake, method = _generator_image(rng, moved)
        alpha = rng.uniform(0.55, 1.0)
        fake = np.clip(alpha * fake + (1 - alpha) * moved, 0, 255).astype(np.uint8)
        rel = f"fake/fake_{j:04d}.jpg"
        # one fake in ten carries camera-like EXIF copied from a real photo
        extra = {"exif": _camera_exif(rng, j)} if j % 10 == 9 else {}
        Image.fromarray(fake).save(
            root / rel, format="JPEG", quality=int(rng.integers(75, 96)), **extra
        )
        rows.append({"path": rel, "label": "fake", "group": f"src{src:04d}", "generator": method})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root
