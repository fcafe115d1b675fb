"""CNN input preprocessing (pure numpy/OpenCV): resize or keep native size, normalise, lay out."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._io import as_rgb_uint8

__all__ = [
    "CROP_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MIN_SIDE",
    "RESIZE_POLICIES",
    "Stat",
    "preprocess",
    "resize_image",
]

RESIZE_POLICIES = ("auto", "imagenet", "none")


#: ``imagenet`` policy: the centre crop is this fraction of the resized short side (224/256).
CROP_FRACTION = 224 / 256


#: ``mean="imagenet"`` / ``std="imagenet"``: torchvision's ImageNet statistics on 0..255, RGB.
IMAGENET_MEAN = (123.675, 116.28, 103.53)


IMAGENET_STD = (58.395, 57.12, 57.375)


MIN_SIDE = 32


Stat = float | Sequence[float] | str | None


# ----------------------------------------------------------------------------------------
# preprocessing (pure functions)
# ----------------------------------------------------------------------------------------
def _size_hw(input_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(input_size, (int, np.integer)):
        h = w = int(input_size)
    else:
        try:
            h, w = (int(v) for v in input_size)
        except (TypeError, ValueError):
            raise ValueError(
                f"input_size must be an int or (height, width), got {input_size!r}"
            ) from None
    if h < 1 or w < 1:
        raise ValueError(f"input_size must be positive, got {input_size!r}")
    return h, w


def resize_image(
    image: np.ndarray,
    *,
    resize: str = "imagenet",
    input_size: int | Sequence[int] = 224,
    max_side: int | None = 512,
    min_side: int = MIN_SIDE,
) -> np.ndarray:
    """Apply the geometric part of the preprocessing to an ``H×W×3`` uint8 image.

    Parameters
    ----------
    image : numpy.ndarray
        ``H×W×3`` uint8 RGB image.
    resize : {"imagenet", "none"}, default="imagenet"
        ``"imagenet"``: scale (bicubic) so that the short side becomes
        ``floor(input_size / 0.875)`` (256 for 224) and take the central ``input_size``
        crop, like torchvision's ``Resize`` + ``CenterCrop``. Enlarging uses OpenCV's
        bicubic filter, shrinking Pillow's antialiased bicubic filter.
        ``"none"``: keep the
        native resolution (no interpolation at all): sides longer than ``max_side`` are
        centre-cropped to ``max_side``; sides shorter than ``min_side`` are reflect-padded
        (centred) up to ``min_side``.
    input_size : int or (int, int), default=224
        Output size of the ``"imagenet"`` policy.
    max_side : int or None, default=512
        ``"none"`` policy: longest side kept (``None`` keeps everything).
    min_side : int, default=32
        ``"none"`` policy: shortest side after padding.

    Returns
    -------
    numpy.ndarray
        ``uint8`` image (``input_size`` for ``"imagenet"``).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((300, 400, 3), np.uint8)
    >>> resize_image(img).shape
    (224, 224, 3)
    >>> resize_image(img, resize="none", max_side=256).shape
    (256, 256, 3)
    >>> resize_image(np.zeros((20, 50, 3), np.uint8), resize="none").shape
    (32, 50, 3)
    """
    if resize == "imagenet":
        return _resize_imagenet(image, _size_hw(input_size))
    if resize == "none":
        return _native(image, max_side, min_side)
    raise ValueError(f"resize must be 'imagenet' or 'none', got {resize!r}")


def _resize_imagenet(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale to cover ``size / 0.875`` keeping the aspect ratio, then take the centre crop.

    For a square ``input_size`` this is torchvision's ``Resize(input_size / 0.875)`` (short
    side, long side truncated) followed by ``CenterCrop(input_size)``. Enlarging uses
    OpenCV's bicubic filter (fast: the usual case for face crops); shrinking uses Pillow's
    antialiased bicubic filter on the kept region only (its ``box`` argument keeps the
    sampling grid of a full resize), so that large images do not alias.
    """
    th, tw = size
    ih, iw = image.shape[:2]
    sh, sw = math.floor(th / CROP_FRACTION), math.floor(tw / CROP_FRACTION)
    if sh / ih >= sw / iw:  # the height is the covering side
        scale = sh / ih
        rh, rw = sh, max(tw, int(iw * scale))
    else:
        scale = sw / iw
        rh, rw = max(th, int(ih * scale)), sw
    top, left = round((rh - th) / 2), round((rw - tw) / 2)
    if (rh, rw) == (ih, iw):  # no scaling: a plain crop, bit-exact
        return np.ascontiguousarray(image[top : top + th, left : left + tw])
    if scale > 1.0:
        import cv2

        resized = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_CUBIC)
        return np.ascontiguousarray(resized[top : top + th, left : left + tw])
    from PIL import Image

    sy, sx = ih / rh, iw / rw
    box = (left * sx, top * sy, (left + tw) * sx, (top + th) * sy)
    return np.asarray(Image.fromarray(image).resize((tw, th), Image.Resampling.BICUBIC, box=box))


def _native(image: np.ndarray, max_side: int | None, min_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    if max_side is not None:
        if h > max_side:
            top = (h - max_side) // 2
            image = image[top : top + max_side]
        if w > max_side:
            left = (w - max_side) // 2
            image = image[:, left : left + max_side]
    h, w = image.shape[:2]
    ph, pw = max(min_side - h, 0), max(min_side - w, 0)
    if ph or pw:
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
        image = np.pad(image, pads, mode="reflect")
    return np.ascontiguousarray(image)


def _stat_vector(value: Stat, default: tuple[float, ...], name: str, imagenet) -> np.ndarray:
    if value is None:
        value = default
    elif isinstance(value, str):
        if value.lower() != "imagenet":
            raise ValueError(f"{name} must be a number, 3 numbers or 'imagenet', got {value!r}")
        value = imagenet
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be one finite number or 3 (one per channel), got {value!r}")
    return arr


def _normalise(
    images: Sequence[np.ndarray],
    mean: np.ndarray,
    std: np.ndarray,
    channel_order: str,
    layout: str,
) -> np.ndarray:
    """Equal-shape ``H×W×3`` uint8 RGB images → one float32 model input batch."""
    h, w = images[0].shape[:2]
    nchw = layout == "NCHW"
    out = np.empty((len(images), 3, h, w) if nchw else (len(images), h, w, 3), np.float32)
    shape = (3, 1, 1) if nchw else (3,)
    mean32 = mean.astype(np.float32).reshape(shape)
    inv32 = (1.0 / std).astype(np.float32).reshape(shape)
    if nchw:
        import cv2  # lazy; split() de-interleaves to planes ~1.6x faster than a numpy transpose

        order = (2, 1, 0) if channel_order == "BGR" else (0, 1, 2)
        for slot, img in zip(out, images, strict=True):  # one image at a time: cache friendly
            planes = cv2.split(np.ascontiguousarray(img))
            for c, src in enumerate(order):
                np.subtract(planes[src], mean32[c], out=slot[c], dtype=np.float32)
                slot[c] *= inv32[c]
        return out
    for slot, img in zip(out, images, strict=True):
        src = img[..., ::-1] if channel_order == "BGR" else img
        np.subtract(src, mean32, out=slot, dtype=np.float32)
        slot *= inv32
    return out


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if not isinstance(value, str) or value.upper() not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value.upper()


def preprocess(
    image: np.ndarray,
    *,
    resize: str = "imagenet",
    input_size: int | Sequence[int] = 224,
    mean: Stat = 127.0,
    std: Stat = 128.0,
    channel_order: str = "RGB",
    layout: str = "NCHW",
    max_side: int | None = 512,
    min_side: int = MIN_SIDE,
) -> np.ndarray:
    """Turn one image into a float32 model input (without the batch axis).

    The defaults are those of the bundled EfficientNet-Lite0: ImageNet resize policy to
    224×224 and ``(x - 127) / 128`` on 0..255 RGB, channels first.

    Parameters
    ----------
    image : numpy.ndarray
        ``H×W×3`` uint8 RGB image (grayscale / RGBA / float images are converted).
    resize, input_size, max_side, min_side
        Geometry, see :func:`resize_image`.
    mean, std : float, 3 floats or "imagenet", default=127.0 and 128.0
        The input is ``(pixel - mean) / std`` with pixels on the 0..255 scale; a model that
        expects ``x * scale + offset`` uses ``mean = -offset / scale``, ``std = 1 / scale``
        (e.g. ``[0, 1]`` inputs: ``mean=0, std=255``). Per-channel values are listed in
        the model's ``channel_order``. ``"imagenet"`` gives torchvision's statistics.
    channel_order : {"RGB", "BGR"}, default="RGB"
    layout : {"NCHW", "NHWC"}, default="NCHW"
        ``NCHW`` returns ``3×H×W``; ``NHWC`` returns ``H×W×3``.

    Returns
    -------
    numpy.ndarray
        ``float32`` array.

    Examples
    --------
    >>> import numpy as np
    >>> x = preprocess(np.full((100, 150, 3), 255, np.uint8))
    >>> x.shape, x.dtype, float(x.max())
    ((3, 224, 224), dtype('float32'), 1.0)
    >>> preprocess(np.zeros((40, 60, 3), np.uint8), resize="none", layout="NHWC",
    ...            mean=0, std=255).shape
    (40, 60, 3)
    """
    order = _check_choice(channel_order, ("RGB", "BGR"), "channel_order")
    lay = _check_choice(layout, ("NCHW", "NHWC"), "layout")
    mean_v = _stat_vector(mean, (127.0,), "mean", IMAGENET_MEAN)
    std_v = _stat_vector(std, (128.0,), "std", IMAGENET_STD)
    if np.any(std_v == 0):
        raise ValueError("std must be non-zero")
    img = resize_image(
        as_rgb_uint8(image),
        resize=resize,
        input_size=input_size,
        max_side=max_side,
        min_side=min_side,
    )
    return _normalise([img], mean_v, std_v, order, lay)[0]
