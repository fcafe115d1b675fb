"""How a CNNEmbedder feeds its ONNX graph: input checks, the outputs it reads, the feature
names, all resolved once per session into a :class:`_Spec`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._backbone import DEFAULT_BACKBONE, backbone_card, layer_outputs
from ._cnn_preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    _normalise,
    _size_hw,
    _stat_vector,
    resize_image,
)

__all__ = [
    "build_spec",
    "bundled_outputs",
    "check_input",
    "user_output",
]


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


def _concat(outs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(o).reshape(len(o), -1) for o in outs], axis=1)


def build_spec(emb: Any, session) -> _Spec:
    bundled = emb.model is None
    order = emb.channel_order.upper()
    layout = emb.layout.upper()
    size = _size_hw(emb.input_size)
    if bundled:
        card = backbone_card(DEFAULT_BACKBONE)["preprocessing"]["normalization"]
        default_mean, default_std = tuple(card["mean"]), tuple(card["std"])
    else:
        default_mean, default_std = (0.0,), (255.0,)
    mean = _stat_vector(emb.mean, default_mean, "mean", IMAGENET_MEAN)
    std = _stat_vector(emb.std, default_std, "std", IMAGENET_STD)
    if np.any(std == 0):
        raise ValueError("std must be non-zero")

    inp = check_input(emb, session, layout, size)
    resize = emb.resize
    if resize == "auto":  # native resolution whenever the model accepts any size
        spatial = (2, 3) if layout == "NCHW" else (1, 2)
        fixed = all(isinstance(inp.shape[a], int) for a in spatial)
        resize = "imagenet" if fixed else "none"
    dtype = _ORT_DTYPES[inp.type]
    batch_dim = inp.shape[0]
    batch_size = int(emb.batch_size)
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
        max_side=emb.max_side,
    )
    if bundled:
        bundled_outputs(emb, session, spec)
    else:
        user_output(emb, session, spec)
    return spec


def check_input(emb: Any, session, layout: str, size: tuple[int, int]):
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
        if emb.resize == "none":
            raise ValueError(
                f"model input {inp.name!r} has a fixed size {fixed[0]}×{fixed[1]}; "
                "resize='none' needs dynamic height and width (use resize='imagenet')"
            )
        if tuple(fixed) != size:
            raise ValueError(
                f"model input {inp.name!r} expects {fixed[0]}×{fixed[1]} images but "
                f"input_size={emb.input_size!r}; set input_size={tuple(fixed)!r}"
            )
    return inp


def bundled_outputs(emb: Any, session, spec: _Spec) -> None:
    available = {o.name: o for o in session.get_outputs()}
    layers = emb._bundled_layers()
    names: list[str] = []
    feature_names: list[str] = []
    for layer in layers:
        for out in layer_outputs(layer):
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


def user_output(emb: Any, session, spec: _Spec) -> None:
    outputs = session.get_outputs()
    names = [o.name for o in outputs]
    if emb.output_name is None:
        out = outputs[0]
    elif emb.output_name in names:
        out = outputs[names.index(emb.output_name)]
    else:
        raise ValueError(f"the ONNX model has no output {emb.output_name!r}; outputs: {names}")
    shape = out.shape
    rank = len(shape) if shape is not None else None
    if rank not in (2, 4):
        raise ValueError(
            f"model output {out.name!r} has shape {shape}; expected rank 2 (batch × "
            "features) or 4 (a feature map, pooled with pool='avg' or 'max')"
        )
    pool = emb.pool if emb.pool is not None else ("avg" if rank == 4 else "none")
    if rank == 4 and pool == "none":
        raise ValueError(
            f"model output {out.name!r} is a 4-D feature map {shape}; use pool='avg' or "
            "'max' (or pool=None)"
        )
    if rank == 2 and pool != "none":
        raise ValueError(f"pool={emb.pool!r} needs a 4-D output; {out.name!r} has shape {shape}")
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
