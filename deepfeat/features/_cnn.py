"""CNN features: embeddings of a frozen ONNX backbone run with onnxruntime.

The default backbone, EfficientNet-Lite0 trained on ImageNet, ships inside the package
(``deepfeat/backbones/efficientnet_lite0.onnx`` with its JSON model card); any other ONNX
image model can be used instead by passing its path and its preprocessing.

Nothing is loaded at import time: the onnxruntime session is created on first use, cached
on the :class:`CNNEmbedder` instance and left out of pickles.

Preprocessing is :mod:`deepfeat.features._cnn_preprocess`, the bundled files
:mod:`deepfeat.features._backbone`, the graph wiring :mod:`deepfeat.features._cnn_spec`,
and sessions come from :func:`deepfeat._onnx.cpu_session`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import DEFAULT_MAX_PIXELS, ImageLoadError
from .._onnx import cpu_session
from .._schema import FAILURE_COLUMNS
from ._backbone import (
    DEFAULT_BACKBONE,
    DEFAULT_LAYERS,
    LAYER_PRESETS,
    PRECISIONS,
    STAGES,
    _run_file,
    _verified_backbone,
    layer_outputs,
)
from ._base import ImageTransformer
from ._cnn_preprocess import MIN_SIDE, RESIZE_POLICIES, Stat, _check_choice, _size_hw
from ._cnn_spec import _Spec, build_spec
from ._work import decode_item, failure_record, item_name, log_failures, run_isolating

logger = logging.getLogger(__name__)

__all__ = [
    "CNNEmbedder",
]


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
    precision : {"fp32", "int8"}, default="fp32"
        Numeric precision of the bundled backbone. ``"int8"`` runs its statically
        quantised variant (per-channel int8 convolutions calibrated on real faces,
        ``scripts/backbone/quantize.py``; hash-checked like the fp32 file). Speed and the
        AUC change it costs are measured in ``docs/benchmarks_precision.md``.
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
    With the bundled backbone and layers within stem … s6 (the default ``"mid"``), the
    session runs ``efficientnet_lite0_mid.onnx``: the full graph cut after s6 (same nodes
    and weights, outputs equal bit for bit, s7 and the head not computed; ``_run_file``).
    The features' identity (cache keys, model cards) stays the full file's sha256.

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
        precision: str = "fp32",
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
        self.precision = precision
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
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.model is not None and self.precision != "fp32":
            raise ValueError(
                "precision applies to the bundled backbone only (a user model is used as given)"
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
            return _verified_backbone(DEFAULT_BACKBONE, self.precision)
        path = Path(os.fspath(self.model))
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        return os.fspath(path)

    def _run_path(self) -> str:
        """The graph the session runs: for the bundled backbone, the smallest variant of
        its precision that computes the requested layers (``_run_file``; an exact
        sub-graph of :meth:`_model_path`, whose sha256 stays the features' identity)."""
        if self.model is not None:
            return self._model_path()
        self._model_path()  # the full file is checked too: it names the features
        outputs = tuple(o for layer in self._bundled_layers() for o in layer_outputs(layer))
        return _run_file(DEFAULT_BACKBONE, self.precision, outputs)

    def _get_session(self):
        key = (self._run_path(), self.n_threads)
        if getattr(self, "_session", None) is None or getattr(self, "_session_key", None) != key:
            # idle threads sleep: the decode/preprocess thread of transform() needs the cycles
            self._session = cpu_session(key[0], self.n_threads, spin=False)
            self._session_key = key
            self._spec = None
        return self._session

    def _get_spec(self) -> _Spec:
        self._validate_params()
        session = self._get_session()
        key = repr(sorted(self.get_params().items()))
        if getattr(self, "_spec", None) is None or getattr(self, "_spec_key", None) != key:
            self._spec = build_spec(self, session)
            self._spec_key = key
        return self._spec

    # -- ImageTransformer hooks --------------------------------------------------------------
    def _feature_names(self) -> list[str]:
        return list(self._get_spec().feature_names)

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
            return i, failure_record(item_name(items[i], i), stage, exc)

        def produce(chunk: range) -> tuple[list[tuple[list[int], np.ndarray]], list[tuple]]:
            ok, prepared, failed = [], [], []
            for i in chunk:
                item = items[i]
                try:
                    img = decode_item(item, max_pixels, None if images is None else images[i])
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
        log_failures(self, len(failures), len(items))
        return out, table

    def _run_batch(
        self, spec: _Spec, rows: list[int], x: np.ndarray, out: np.ndarray, raise_errors: bool
    ) -> list[tuple[int, Exception]]:
        """Fill ``out[rows]``; on error retry one image at a time and return the failures."""
        width = len(spec.feature_names)
        values, errs = run_isolating(lambda b: self._run(spec, b), x, width, raise_errors)
        out[rows] = values
        return [(rows[j], exc) for j, exc in errs.items()]
