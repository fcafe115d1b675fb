"""CNN features: embeddings of a frozen ONNX backbone run with onnxruntime.

The default backbone, EfficientNet-Lite0 trained on ImageNet, ships inside the package
(``deepfeat/backbones/efficientnet_lite0.onnx`` with its JSON model card); any other ONNX
image model can be used instead by passing its path and its preprocessing.

Nothing is loaded at import time: the onnxruntime session is created on first use, cached
on the :class:`CNNEmbedder` instance and left out of pickles.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from .._schema import FAILURE_COLUMNS
from ._base import ImageTransformer, _reason, as_rgb_uint8, item_name

logger = logging.getLogger(__name__)

__all__ = [
    "BACKBONE_DIR",
    "DEFAULT_BACKBONE",
    "LAYER_PRESETS",
    "STAGES",
    "CNNEmbedder",
    "backbone_card",
    "backbone_path",
    "preprocess",
    "resize_image",
]

#: Folder of the bundled backbones (ONNX file, JSON card, reference outputs, NOTICE).
BACKBONE_DIR = Path(__file__).resolve().parents[1] / "backbones"
#: Name of the bundled default backbone.
DEFAULT_BACKBONE = "efficientnet_lite0"
#: Taps of the bundled backbone that give a spatial mean and std per channel, in depth order.
STAGES = ("stem", "s1", "s2", "s3", "s4", "s5", "s6", "s7")
#: Named selections of ``layers`` for the bundled backbone.
LAYER_PRESETS: dict[str, tuple[str, ...]] = {
    "head": ("head",),
    "mid": STAGES[:7],  # stem … s6: low- and mid-level statistics, where pixel artefacts live
    "stats": STAGES,
    "all": (*STAGES, "head"),
}
RESIZE_POLICIES = ("auto", "imagenet", "none")
#: Default ``layers``: chosen on the real-data benchmark (docs/benchmarks.md).
DEFAULT_LAYERS = "mid"
#: ``imagenet`` policy: the centre crop is this fraction of the resized short side (224/256).
CROP_FRACTION = 224 / 256
#: ``mean="imagenet"`` / ``std="imagenet"``: torchvision's ImageNet statistics on 0..255, RGB.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
MIN_SIDE = 32

Stat = float | Sequence[float] | str | None


# ----------------------------------------------------------------------------------------
# bundled backbone
# ----------------------------------------------------------------------------------------
def backbone_path(name: str = DEFAULT_BACKBONE) -> Path:
    """Path of a bundled ONNX backbone.

    Examples
    --------
    >>> from deepfeat.features._cnn import backbone_path
    >>> backbone_path().name
    'efficientnet_lite0.onnx'
    """
    return BACKBONE_DIR / f"{name}.onnx"


@functools.lru_cache(maxsize=4)
def _card_text(name: str) -> str:
    path = BACKBONE_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no model card for bundled backbone {name!r} at {path}")
    return path.read_text(encoding="utf-8")


def backbone_card(name: str = DEFAULT_BACKBONE) -> dict[str, Any]:
    """The JSON model card of a bundled backbone (a fresh dict on every call).

    Examples
    --------
    >>> from deepfeat.features._cnn import backbone_card
    >>> card = backbone_card()
    >>> card["license"], card["preprocessing"]["input_size"]
    ('Apache-2.0', 224)
    >>> [o["channels"] for o in card["outputs"]][:3]
    [1280, 32, 32]
    """
    return json.loads(_card_text(name))


@functools.lru_cache(maxsize=4)
def _verified_backbone(name: str) -> str:
    """Check the bundled file against its card's sha256 once per process; return its path."""
    path = backbone_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"bundled backbone missing: {path} (broken installation?)")
    expected = backbone_card(name)["sha256"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise RuntimeError(
            f"bundled backbone {path} is corrupted: sha256 {digest} differs from the model "
            f"card's {expected}; reinstall deepfeat"
        )
    return os.fspath(path)


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


# ----------------------------------------------------------------------------------------
# resolved run-time configuration
# ----------------------------------------------------------------------------------------
@dataclass
class _Spec:
    """Everything needed to run the model, resolved from the parameters and the session."""

    input_name: str
    input_dtype: Any
    output_names: list[str]
    feature_names: list[str]
    combine: Callable[[list[np.ndarray]], np.ndarray]
    batch_size: int
    mean: np.ndarray
    std: np.ndarray
    channel_order: str
    layout: str
    resize: str
    input_size: tuple[int, int]
    max_side: int | None

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Decoded RGB uint8 image → geometry-adjusted uint8 image."""
        return resize_image(
            image, resize=self.resize, input_size=self.input_size, max_side=self.max_side
        )

    def tensor(self, images: list[np.ndarray]) -> np.ndarray:
        x = _normalise(images, self.mean, self.std, self.channel_order, self.layout)
        return x if self.input_dtype == np.float32 else x.astype(self.input_dtype)


_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


class CNNEmbedder(ImageTransformer):
    """Embeddings of a frozen ONNX CNN, as a stateless scikit-learn transformer.

    With ``model=None`` the bundled EfficientNet-Lite0 (ImageNet weights, Apache-2.0) is used
    with the preprocessing of its model card; ``layers`` then picks which of its outputs are
    concatenated. Any other ONNX image model works when its preprocessing is given.

    Parameters
    ----------
    model : str, os.PathLike or None, default=None
        ``None`` for the bundled backbone, or the path of an ``.onnx`` file with a single
        4-D image input.
    layers : str or list of str, default="mid"
        Bundled backbone only. ``"head"``: the 1280-d pooled embedding, columns
        ``cnn_0000 … cnn_1279``. A list of ``"head"`` and stage names ``"stem", "s1" …
        "s7"`` (channels 32, 16, 24, 40, 80, 112, 192, 320) concatenates the head
        (``cnn_head_0000 …``) and, per stage, the spatial mean and std of every channel
        (``cnn_s4_mean_000 …``, ``cnn_s4_std_000 …``). Presets: ``"mid"`` (stem … s6, 992
        values), ``"stats"`` (stem … s7), ``"all"`` (stats and head). The default ``"mid"``
        was chosen on the real-data benchmark (``docs/benchmarks.md``): mid-level feature
        statistics carry the forensic traces (DFDC grouped-CV AUC 0.77 vs 0.64 for the
        head, k140 0.94 vs 0.69, linear probe on each); s7 and the head add nothing on top.
    resize : {"auto", "imagenet", "none"}, default="auto"
        ``"auto"``: ``"none"`` when the model accepts any input height and width (the
        bundled backbone does), else ``"imagenet"``. ``"imagenet"``: short side to
        ``input_size / 0.875`` (bicubic), centre crop of
        ``input_size``. ``"none"``: the whole image at native resolution (needs a model
        with dynamic height and width, such as the bundled one): sides above ``max_side``
        are centre-cropped, sides below 32 px reflect-padded; images of equal shape are
        batched together. Native resolution is the default because resampling erases the
        up-sampling and compression traces the detector looks for (benchmark:
        ``docs/benchmarks.md``).
    input_size : int or (int, int), default=224
    mean, std : float, 3 floats, "imagenet" or None, default=None
        Input normalisation ``(pixel - mean) / std`` on 0..255, in the model's channel
        order. ``None``: the card's ``127`` / ``128`` for the bundled backbone, ``0`` /
        ``255`` (inputs in ``[0, 1]``) for a user model.
    channel_order : {"RGB", "BGR"}, default="RGB"
    layout : {"NCHW", "NHWC"}, default="NCHW"
        Layout of the model input (and of a 4-D feature-map output).
    output_name : str or None, default=None
        User model: the output to use (default: the first one).
    pool : {None, "avg", "max", "none"}, default=None
        User model: how a 4-D feature-map output becomes a vector. ``None`` averages 4-D
        outputs and keeps 2-D ones; ``"none"`` requires a 2-D output.
    batch_size : int, default=32
    n_threads : int or None, default=None
        onnxruntime intra-op threads (``None``: one per physical core).
    max_side : int or None, default=512
        ``resize="none"``: longest side kept (centre crop, no interpolation).
    tta : {None, "flip"}, default=None
        Test-time augmentation: ``"flip"`` averages the outputs of the image and its
        horizontal mirror (twice the inference cost; see ``docs/benchmarks.md`` for what it
        buys).
    on_error : {"raise", "record"}, default="raise"
        ``"record"``: failed images give a NaN row and a row in ``failures_``.

    Attributes
    ----------
    n_features_out_ : int
        Set by :meth:`fit`.
    failures_ : pandas.DataFrame
        ``path, stage, reason`` of the inputs that failed in the last :meth:`transform`.

    Notes
    -----
    Decoding and preprocessing of the next batch run in a background thread while
    onnxruntime works on the current one. The session is created lazily, reused, and never
    pickled.

    Examples
    --------
    >>> import numpy as np
    >>> from deepfeat import CNNEmbedder
    >>> emb = CNNEmbedder(batch_size=2)
    >>> img = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    >>> emb.transform([img, img]).shape
    (2, 992)
    >>> emb.get_feature_names_out()[:2].tolist()
    ['cnn_stem_mean_000', 'cnn_stem_mean_001']
    >>> CNNEmbedder(layers="head", resize="imagenet").get_feature_names_out()[:2].tolist()
    ['cnn_0000', 'cnn_0001']
    >>> CNNEmbedder(layers=["s1", "head"]).get_feature_names_out()[[0, 16, 32]].tolist()
    ['cnn_s1_mean_000', 'cnn_s1_std_000', 'cnn_head_0000']
    """

    prefix = "cnn"
    stage = "cnn"

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        layers: str | Sequence[str] = DEFAULT_LAYERS,
        resize: str = "auto",
        input_size: int | Sequence[int] = 224,
        mean: Stat = None,
        std: Stat = None,
        channel_order: str = "RGB",
        layout: str = "NCHW",
        output_name: str | None = None,
        pool: str | None = None,
        batch_size: int = 32,
        n_threads: int | None = None,
        max_side: int | None = 512,
        tta: str | None = None,
        on_error: str = "raise",
    ) -> None:
        self.model = model
        self.layers = layers
        self.resize = resize
        self.input_size = input_size
        self.mean = mean
        self.std = std
        self.channel_order = channel_order
        self.layout = layout
        self.output_name = output_name
        self.pool = pool
        self.batch_size = batch_size
        self.n_threads = n_threads
        self.max_side = max_side
        self.tta = tta
        self.on_error = on_error

    # -- pickling: never carry the session ----------------------------------------------
    _CACHE_ATTRS = ("_session", "_session_key", "_spec", "_spec_key")

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        for key in self._CACHE_ATTRS:
            state.pop(key, None)
        return state

    # -- parameter validation ------------------------------------------------------------
    def _validate_params(self) -> None:
        super()._validate_params()
        if self.tta not in (None, "flip"):
            raise ValueError(f"tta must be None or 'flip', got {self.tta!r}")
        if self.resize not in RESIZE_POLICIES:
            raise ValueError(f"resize must be one of {RESIZE_POLICIES}, got {self.resize!r}")
        _check_choice(self.channel_order, ("RGB", "BGR"), "channel_order")
        _check_choice(self.layout, ("NCHW", "NHWC"), "layout")
        _size_hw(self.input_size)
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if self.n_threads is not None and (
            not isinstance(self.n_threads, (int, np.integer)) or self.n_threads < 1
        ):
            raise ValueError(f"n_threads must be None or a positive int, got {self.n_threads!r}")
        if self.max_side is not None and (
            not isinstance(self.max_side, (int, np.integer)) or self.max_side < MIN_SIDE
        ):
            raise ValueError(
                f"max_side must be None or an int >= {MIN_SIDE}, got {self.max_side!r}"
            )
        if self.pool not in (None, "avg", "max", "none"):
            raise ValueError(f"pool must be None, 'avg', 'max' or 'none', got {self.pool!r}")
        if self.model is None:
            self._bundled_layers()
            if self.output_name is not None or self.pool is not None:
                raise ValueError(
                    "output_name and pool apply to a user model; with the bundled backbone "
                    "choose outputs with layers="
                )
        elif self.layers != DEFAULT_LAYERS:  # the default is simply unused for user models
            raise ValueError(
                "layers applies to the bundled backbone only; for a user model choose the "
                "output with output_name="
            )

    def _bundled_layers(self) -> tuple[str, ...]:
        layers = self.layers
        if isinstance(layers, str):
            if layers not in LAYER_PRESETS:
                raise ValueError(
                    f"unknown layers preset {layers!r}: use one of {sorted(LAYER_PRESETS)} or a "
                    f"list of names from {('head', *STAGES)}"
                )
            return LAYER_PRESETS[layers]
        try:
            names = tuple(layers)
        except TypeError:
            raise ValueError(
                f"layers must be a string or a list of names, got {layers!r}"
            ) from None
        known = ("head", *STAGES)
        bad = [n for n in names if n not in known]
        if bad or not names:
            raise ValueError(f"unknown layer(s) {bad or names!r}; choose from {known}")
        if len(set(names)) != len(names):
            raise ValueError(f"layers contains duplicates: {list(names)}")
        return names

    # -- session and spec ------------------------------------------------------------------
    def _model_path(self) -> str:
        if self.model is None:
            return _verified_backbone(DEFAULT_BACKBONE)
        path = Path(os.fspath(self.model))
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        return os.fspath(path)

    def _get_session(self):
        key = (self._model_path(), self.n_threads)
        if getattr(self, "_session", None) is None or getattr(self, "_session_key", None) != key:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.inter_op_num_threads = 1
            if self.n_threads is not None:
                opts.intra_op_num_threads = int(self.n_threads)
            opts.log_severity_level = 3
            # Idle worker threads sleep instead of spinning: the decode/preprocess thread of
            # transform() needs those cycles, and other processes on the machine do too.
            # Batches are large, so the extra wake-up latency per operator is negligible.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
            # No memory-pattern planning: it keeps one pre-planned buffer set per input
            # shape, so memory grew with every new image size / batch size seen (+290 MiB
            # over a mixed 224/256-px folder); without it the arena reuses its blocks, at the
            # same speed (scripts/bench_extract.py).
            opts.enable_mem_pattern = False
            try:
                session = ort.InferenceSession(key[0], opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ValueError(f"cannot load ONNX model {key[0]!r}: {exc}") from exc
            logger.debug("loaded %s (intra-op threads: %s)", key[0], self.n_threads or "auto")
            self._session, self._session_key = session, key
            self._spec = None
        return self._session

    def _get_spec(self) -> _Spec:
        self._validate_params()
        session = self._get_session()
        key = repr(sorted(self.get_params().items()))
        if getattr(self, "_spec", None) is None or getattr(self, "_spec_key", None) != key:
            self._spec = self._build_spec(session)
            self._spec_key = key
        return self._spec

    def _build_spec(self, session) -> _Spec:
        bundled = self.model is None
        order = self.channel_order.upper()
        layout = self.layout.upper()
        size = _size_hw(self.input_size)
        if bundled:
            card = backbone_card(DEFAULT_BACKBONE)["preprocessing"]["normalization"]
            default_mean, default_std = tuple(card["mean"]), tuple(card["std"])
        else:
            default_mean, default_std = (0.0,), (255.0,)
        mean = _stat_vector(self.mean, default_mean, "mean", IMAGENET_MEAN)
        std = _stat_vector(self.std, default_std, "std", IMAGENET_STD)
        if np.any(std == 0):
            raise ValueError("std must be non-zero")

        inp = self._check_input(session, layout, size)
        resize = self.resize
        if resize == "auto":  # native resolution whenever the model accepts any size
            spatial = (2, 3) if layout == "NCHW" else (1, 2)
            fixed = all(isinstance(inp.shape[a], int) for a in spatial)
            resize = "imagenet" if fixed else "none"
        dtype = _ORT_DTYPES[inp.type]
        batch_dim = inp.shape[0]
        batch_size = int(self.batch_size)
        if isinstance(batch_dim, int):
            if batch_dim != 1:
                raise ValueError(
                    f"model input {inp.name!r} has a fixed batch size of {batch_dim}; only "
                    "a dynamic batch axis or a batch of 1 is supported"
                )
            batch_size = 1

        spec = _Spec(
            input_name=inp.name,
            input_dtype=dtype,
            output_names=[],
            feature_names=[],
            combine=lambda outs: outs[0],
            batch_size=batch_size,
            mean=mean,
            std=std,
            channel_order=order,
            layout=layout,
            resize=resize,
            input_size=size,
            max_side=self.max_side,
        )
        if bundled:
            self._bundled_outputs(session, spec)
        else:
            self._user_output(session, spec)
        return spec

    def _check_input(self, session, layout: str, size: tuple[int, int]):
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(
                f"the ONNX model has {len(inputs)} inputs ({[i.name for i in inputs]}); "
                "CNNEmbedder feeds exactly one image batch"
            )
        inp = inputs[0]
        if inp.type not in _ORT_DTYPES:
            raise ValueError(
                f"model input {inp.name!r} has type {inp.type}; a float image tensor is needed"
            )
        shape = inp.shape
        if shape is None or len(shape) != 4:
            raise ValueError(
                f"model input {inp.name!r} has shape {shape}; a 4-D image batch "
                "(NCHW or NHWC) is needed"
            )
        c_axis, spatial = (1, (2, 3)) if layout == "NCHW" else (3, (1, 2))
        channels = shape[c_axis]
        other_axis = 3 if layout == "NCHW" else 1
        looks_swapped = not isinstance(channels, int) and shape[other_axis] == 3
        if (isinstance(channels, int) and channels != 3) or looks_swapped:
            other = "NHWC" if layout == "NCHW" else "NCHW"
            raise ValueError(
                f"model input {inp.name!r} has shape {shape}: layout={layout!r} expects 3 "
                f"channels at axis {c_axis}, found {channels} (is the layout {other!r}?)"
            )
        fixed = [shape[a] for a in spatial]
        if all(isinstance(d, int) for d in fixed):
            if self.resize == "none":
                raise ValueError(
                    f"model input {inp.name!r} has a fixed size {fixed[0]}×{fixed[1]}; "
                    "resize='none' needs dynamic height and width (use resize='imagenet')"
                )
            if tuple(fixed) != size:
                raise ValueError(
                    f"model input {inp.name!r} expects {fixed[0]}×{fixed[1]} images but "
                    f"input_size={self.input_size!r}; set input_size={tuple(fixed)!r}"
                )
        return inp

    def _bundled_outputs(self, session, spec: _Spec) -> None:
        available = {o.name: o for o in session.get_outputs()}
        layers = self._bundled_layers()
        names: list[str] = []
        feature_names: list[str] = []
        for layer in layers:
            outs = ["head"] if layer == "head" else [f"{layer}_mean", f"{layer}_std"]
            for out in outs:
                if out not in available:
                    raise ValueError(f"bundled backbone has no output {out!r}")
                n = available[out].shape[1]
                names.append(out)
                if layers == ("head",):
                    feature_names += [f"cnn_{i:04d}" for i in range(n)]
                elif layer == "head":
                    feature_names += [f"cnn_head_{i:04d}" for i in range(n)]
                else:
                    feature_names += [f"cnn_{out}_{i:03d}" for i in range(n)]
        spec.output_names = names
        spec.feature_names = feature_names
        spec.combine = (lambda outs: outs[0]) if len(names) == 1 else _concat

    def _user_output(self, session, spec: _Spec) -> None:
        outputs = session.get_outputs()
        names = [o.name for o in outputs]
        if self.output_name is None:
            out = outputs[0]
        elif self.output_name in names:
            out = outputs[names.index(self.output_name)]
        else:
            raise ValueError(f"the ONNX model has no output {self.output_name!r}; outputs: {names}")
        shape = out.shape
        rank = len(shape) if shape is not None else None
        if rank not in (2, 4):
            raise ValueError(
                f"model output {out.name!r} has shape {shape}; expected rank 2 (batch × "
                "features) or 4 (a feature map, pooled with pool='avg' or 'max')"
            )
        pool = self.pool if self.pool is not None else ("avg" if rank == 4 else "none")
        if rank == 4 and pool == "none":
            raise ValueError(
                f"model output {out.name!r} is a 4-D feature map {shape}; use pool='avg' or "
                "'max' (or pool=None)"
            )
        if rank == 2 and pool != "none":
            raise ValueError(
                f"pool={self.pool!r} needs a 4-D output; {out.name!r} has shape {shape}"
            )
        if rank == 4:
            axes = (2, 3) if spec.layout == "NCHW" else (1, 2)
            reducer = np.mean if pool == "avg" else np.max
            spec.combine = lambda outs: reducer(outs[0], axis=axes)
            n = shape[1] if spec.layout == "NCHW" else shape[3]
        else:
            spec.combine = lambda outs: outs[0]
            n = shape[1]
        spec.output_names = [out.name]
        if not isinstance(n, int):  # symbolic: probe with one blank image
            probe = spec.tensor([spec.prepare(np.zeros((*spec.input_size, 3), np.uint8))])
            try:
                outs = session.run(spec.output_names, {spec.input_name: probe})
                n = int(np.asarray(spec.combine(outs)).reshape(1, -1).shape[1])
            except Exception as exc:
                raise ValueError(
                    f"the output width of {out.name!r} is not fixed in the model and probing "
                    f"it with a {probe.shape} input failed: {exc}"
                ) from exc
        width = max(4, len(str(n - 1)))
        spec.feature_names = [f"cnn_{i:0{width}d}" for i in range(n)]

    # -- ImageTransformer hooks --------------------------------------------------------------
    def _feature_names(self) -> list[str]:
        return list(self._get_spec().feature_names)

    def _transform_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        spec = self._get_spec()
        prepared = [spec.prepare(as_rgb_uint8(img)) for img in images]
        out = np.empty((len(prepared), len(spec.feature_names)), np.float32)
        for rows, x in self._batches(spec, list(range(len(prepared))), prepared):
            out[rows] = self._run(spec, x)
        return out

    @staticmethod
    def _batches(
        spec: _Spec, rows: list[int], prepared: list[np.ndarray]
    ) -> list[tuple[list[int], np.ndarray]]:
        """Group prepared images by shape into model-ready batches of at most ``batch_size``."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for j, img in enumerate(prepared):
            groups.setdefault(img.shape, []).append(j)
        batches = []
        for members in groups.values():
            for start in range(0, len(members), spec.batch_size):
                part = members[start : start + spec.batch_size]
                batches.append(([rows[j] for j in part], spec.tensor([prepared[j] for j in part])))
        return batches

    def _run(self, spec: _Spec, x: np.ndarray) -> np.ndarray:
        out = self._run_once(spec, x)
        if self.tta == "flip":  # average with the horizontally mirrored image
            width_axis = 3 if spec.layout == "NCHW" else 2
            flipped = np.ascontiguousarray(np.flip(x, axis=width_axis))
            out = 0.5 * (out + self._run_once(spec, flipped))
        return out

    def _run_once(self, spec: _Spec, x: np.ndarray) -> np.ndarray:
        outs = self._get_session().run(spec.output_names, {spec.input_name: x})
        return np.asarray(spec.combine(outs), dtype=np.float32).reshape(len(x), -1)

    # -- pipelined transform: decode the next batch while the model runs --------------------
    def transform_items(
        self, items: Sequence[Any], images: Sequence[np.ndarray | None] | None = None
    ) -> np.ndarray:
        """Features of normalised items (paths or arrays), optionally already decoded.

        Same contract as :meth:`ImageTransformer.transform_items`. Decoding, resizing and
        normalisation of batch ``k + 1`` run in a background thread while onnxruntime works
        on batch ``k``; within a batch, images of equal prepared shape share one model call.
        """
        out, failures = self.transform_items_with_failures(items, images)
        self.failures_ = failures
        return out

    def transform_items_with_failures(
        self, items: Sequence[Any], images: Sequence[np.ndarray | None] | None = None
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """:meth:`transform_items` returning its failures instead of setting ``failures_``
        (safe when several threads share one embedder)."""
        spec = self._get_spec()
        out = np.full((len(items), len(spec.feature_names)), np.nan, dtype=np.float32)
        raise_errors = self.on_error == "raise"
        max_pixels = getattr(self, "max_pixels", DEFAULT_MAX_PIXELS)
        failures: list[tuple[int, dict[str, str]]] = []  # (input index, record)

        def record(i: int, stage: str, exc: Exception) -> tuple[int, dict[str, str]]:
            return i, {"path": item_name(items[i], i), "stage": stage, "reason": _reason(exc)}

        def produce(chunk: range) -> tuple[list[tuple[list[int], np.ndarray]], list[tuple]]:
            ok, prepared, failed = [], [], []
            for i in chunk:
                item = items[i]
                try:
                    if images is not None and images[i] is not None:
                        img = images[i]
                    elif isinstance(item, np.ndarray):
                        img = as_rgb_uint8(item)
                    else:
                        img = load_image(item, max_pixels=max_pixels)
                except (ImageLoadError, ValueError) as exc:
                    if raise_errors:
                        raise
                    failed.append(record(i, "load", exc))
                    continue
                try:
                    prepared.append(spec.prepare(img))
                except Exception as exc:
                    if raise_errors:
                        raise
                    failed.append(record(i, self.stage, exc))
                    continue
                ok.append(i)
            return self._batches(spec, ok, prepared), failed

        step = int(self.batch_size)
        chunks = [range(s, min(s + step, len(items))) for s in range(0, len(items), step)]
        if chunks:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deepfeat-cnn") as pool:
                pending: Future = pool.submit(produce, chunks[0])
                for k in range(len(chunks)):
                    batches, failed = pending.result()
                    if k + 1 < len(chunks):
                        pending = pool.submit(produce, chunks[k + 1])
                    failures += failed
                    for rows, x in batches:
                        for i, exc in self._run_batch(spec, rows, x, out, raise_errors):
                            failures.append(record(i, self.stage, exc))

        failures.sort(key=lambda f: f[0])
        table = pd.DataFrame([f[1] for f in failures], columns=FAILURE_COLUMNS)
        if failures:
            logger.warning(
                "%s: %d of %d inputs failed (see failures_)",
                type(self).__name__,
                len(failures),
                len(items),
            )
        return out, table

    def _run_batch(
        self, spec: _Spec, rows: list[int], x: np.ndarray, out: np.ndarray, raise_errors: bool
    ) -> list[tuple[int, Exception]]:
        """Fill ``out[rows]``; on error retry one image at a time and return the failures."""
        try:
            out[rows] = self._run(spec, x)
            return []
        except Exception:
            if raise_errors:
                raise
        errors = []
        for j, i in enumerate(rows):  # isolate the failing image(s)
            try:
                out[i] = self._run(spec, x[j : j + 1])[0]
            except Exception as exc:  # recorded per input, never lost
                errors.append((i, exc))
        return errors


def _concat(outs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(o).reshape(len(o), -1) for o in outs], axis=1)
