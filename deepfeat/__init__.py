"""deepfeat: tell real face images from deepfakes and AI-generated faces.

Three feature groups -- frozen ONNX CNN embeddings (``cnn_*``), azimuthal FFT spectra
(``fft_*``) and file metadata (``meta_*``) -- are extracted from every image into one named
float32 table, and an imbalance-aware XGBoost model learns on it. A fourth, opt-in group
(``forensic_*``) measures residual generation traces at native resolution.

Public names are imported lazily, so ``import deepfeat`` is cheap and does no work; the
heavy dependencies (onnxruntime, xgboost, matplotlib) load on first use.

Examples
--------
>>> import deepfeat
>>> deepfeat.__version__
'0.1.0'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it (relative to this package)
_EXPORTS: dict[str, str] = {
    "load_image": "._io",
    "ImageLoadError": "._io",
    "load_dataset": ".datasets",
    "make_demo_dataset": ".datasets",
    "CNNEmbedder": ".features._cnn",
    "radial_spectrum": ".features._fft_kernel",
    "FFTSpectrum": ".features._fft",
    "ForensicResiduals": ".features._forensic",
    "residual_traces": ".features._forensic_kernel",
    "read_metadata": ".features._meta_kernel",
    "MetadataFeatures": ".features._meta",
    "ImageFeatures": ".features._combined",
    "DeepfakeDetector": ".detector",
    "evaluate": ".evaluation",
    "ablation": ".evaluation",
    "leakage_report": ".evaluation",
    "grouped_splits": ".evaluation",
    "FaceCropper": ".face",
    "self_blend": ".synthesis",
    "upsample_trace": ".synthesis",
    "degrade": ".synthesis",
    "make_pseudo_fakes": ".synthesis",
    "write_face_layout": ".video",
    "predict_video": ".video",
    "aggregate_scores": ".video",
}

__all__ = [
    "CNNEmbedder",
    "DeepfakeDetector",
    "FFTSpectrum",
    "FaceCropper",
    "ForensicResiduals",
    "ImageFeatures",
    "ImageLoadError",
    "MetadataFeatures",
    "__version__",
    "ablation",
    "aggregate_scores",
    "degrade",
    "evaluate",
    "grouped_splits",
    "leakage_report",
    "load_dataset",
    "load_image",
    "make_demo_dataset",
    "make_pseudo_fakes",
    "predict_video",
    "radial_spectrum",
    "read_metadata",
    "residual_traces",
    "self_blend",
    "upsample_trace",
    "write_face_layout",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._io import ImageLoadError, load_image
    from .datasets import load_dataset, make_demo_dataset
    from .detector._estimator import DeepfakeDetector
    from .evaluation import ablation, evaluate, grouped_splits, leakage_report
    from .face._cropper import FaceCropper
    from .features._cnn import CNNEmbedder
    from .features._combined import ImageFeatures
    from .features._fft import FFTSpectrum
    from .features._fft_kernel import radial_spectrum
    from .features._forensic import ForensicResiduals
    from .features._forensic_kernel import residual_traces
    from .features._meta import MetadataFeatures
    from .features._meta_kernel import read_metadata
    from .synthesis import degrade, make_pseudo_fakes, self_blend, upsample_trace
    from .video._faces import write_face_layout
    from .video._predict import aggregate_scores, predict_video


_SUBMODULES = (
    "cli",
    "datasets",
    "detector",
    "distributed",
    "evaluation",
    "face",
    "plots",
    "report",
    "synthesis",
    "video",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deepfeat' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*__all__, *_SUBMODULES]
