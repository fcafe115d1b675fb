"""Extractor JSON: the settings of a fitted :class:`~deepfeat.ImageFeatures` as plain data.

Model cards and feature parquet files record the extractor this way (never pickled), and
:func:`extractor_from_json` rebuilds it after checking the JSON against :data:`EXTRACTOR` and
the CNN backbone against its recorded sha256.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .._schema import (
    GROUP_LIST,
    GROUPS,
    CardError,
    Check,
    ModelFileError,
    anything,
    dict_of,
    hex64,
    integer,
    json_safe,
    obj,
    one_of,
    optional,
    string,
)
from ._cache import model_sha256
from ._combined import ImageFeatures

logger = logging.getLogger(__name__)

__all__ = ["BACKBONE_NAME", "EXTRACTOR", "extractor_from_json", "extractor_to_json"]

#: A user ONNX backbone saved with the model (the only other file a model folder may hold).
BACKBONE_NAME = "backbone.onnx"

#: Resource settings of the feature transformers: bounded, so that a card cannot ask for a
#: billion threads or a batch that holds every image at once (other settings are checked by
#: the transformer's own validation).
TRANSFORMER_PARAMS: dict[str, tuple[Check, bool]] = {
    "n_threads": (optional(integer(1, 1024)), False),
    "batch_size": (integer(1, 10_000), False),
    "max_side": (optional(integer(1, 1 << 16)), False),
    "model": (optional(string(4096, min_len=1)), False),
}

_TRANSFORMER = obj(
    {
        "class": (
            one_of("CNNEmbedder", "FFTSpectrum", "ForensicResiduals", "MetadataFeatures"),
            True,
        ),
        "params": (obj(TRANSFORMER_PARAMS), False),
        "state": (anything, False),
    },
    extra=None,
)

EXTRACTOR = obj(
    {
        "groups": (GROUP_LIST, False),
        "params": (
            obj(
                {
                    "batch_size": (integer(1, 10_000), False),
                    "max_pixels": (optional(integer(1, 10**12)), False),
                    "canonical_size": (optional(integer(16, 1 << 16)), False),
                },
            ),
            False,
        ),
        "transformers": (dict_of(_TRANSFORMER, keys=GROUPS), True),
        "backbone_sha256": (optional(hex64), False),
    },
)

#: Transformer classes an extractor JSON may name, and the modules that define them.
_TRANSFORMERS = {
    "CNNEmbedder": "._cnn",
    "FFTSpectrum": "._fft",
    "ForensicResiduals": "._forensic",
    "MetadataFeatures": "._meta",
}


def _transformer_params(tr: Any) -> dict[str, Any]:
    params = {}
    for key, value in tr.get_params(deep=False).items():
        try:
            params[key] = json_safe(value)
        except TypeError:
            logger.debug("parameter %s of %s not saved", key, type(tr).__name__)
    return params


def extractor_to_json(extractor: ImageFeatures) -> dict[str, Any]:
    """The settings of a fitted extractor as JSON data (with the backbone's sha256)."""
    data: dict[str, Any] = {
        "groups": list(extractor.transformers_),
        "params": {
            k: json_safe(v)
            for k, v in extractor.get_params(deep=False).items()
            if k in ("batch_size", "max_pixels", "crop_faces", "canonical_size")
            and not hasattr(v, "get_params")
        },
        "transformers": {},
        "backbone_sha256": None,
    }
    for group, tr in extractor.transformers_.items():
        entry = {"class": type(tr).__name__, "params": _transformer_params(tr)}
        if hasattr(tr, "sidecar_columns_"):  # freeze what "auto" chose at fit time
            entry["params"]["sidecar"] = list(tr.sidecar_columns_)
        data["transformers"][group] = entry
        if group == "cnn":
            data["backbone_sha256"] = model_sha256(tr)
    return data


def extractor_from_json(
    data: Any,
    path: Path,
    *,
    folder: Path | None = None,
    trust_backbone: bool = False,
) -> ImageFeatures:
    """The fitted extractor an extractor JSON (card or parquet metadata) describes.

    The JSON is checked against the card schema first. A CNN may use the bundled backbone
    or ``folder / "backbone.onnx"`` (when ``folder`` is the model folder), and its sha256
    must be recorded and match; ``trust_backbone=True`` also allows any other path and a
    missing hash.
    """
    import importlib

    try:
        EXTRACTOR(data, "extractor")
    except CardError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    transformers: dict[str, Any] = {}
    for group, entry in (data.get("transformers") or {}).items():
        cls = getattr(
            importlib.import_module(_TRANSFORMERS[entry["class"]], __package__), entry["class"]
        )
        params = dict(entry.get("params") or {})
        valid = cls().get_params(deep=False)
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ModelFileError(f"{path}: unknown {cls.__name__} parameters {unknown}")
        if group == "cnn" and params.get("model") is not None:
            params["model"] = backbone_file(params["model"], path, folder, trust_backbone)
        try:
            transformers[group] = cls(
                **{
                    k: (tuple(v) if isinstance(v, list) and isinstance(valid[k], tuple) else v)
                    for k, v in params.items()
                }
            )
            transformers[group]._validate_params()
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{path}: invalid {cls.__name__} settings: {exc}") from None
    cnn = transformers.get("cnn")  # checked before onnxruntime ever opens the file
    expected = data.get("backbone_sha256")
    if cnn is not None and expected is None:
        if not trust_backbone:
            raise ModelFileError(
                f"{path}: the card records no backbone sha256, so the CNN backbone cannot be "
                "checked; pass trust_backbone=True only for a model you made yourself"
            )
        logger.warning("%s: no backbone sha256 recorded; backbone not checked", path)
    elif cnn is not None:
        try:
            installed = model_sha256(cnn)
        except (OSError, RuntimeError) as exc:
            raise ModelFileError(f"{path}: cannot check the CNN backbone: {exc}") from None
        if installed != expected:
            raise ModelFileError(
                f"{path}: the model was trained with backbone sha256 {expected[:12]}…, but the "
                f"installed backbone is {str(installed)[:12]}…; retrain or install the "
                "matching version"
            )
    params = dict(data.get("params") or {})
    params.setdefault("canonical_size", None)  # cards from before the scale policy: native
    try:
        extractor = ImageFeatures(
            groups=tuple(data.get("groups") or transformers),
            **{g: transformers.get(g) for g in GROUPS},
            **params,
        )
        extractor.fit()
    except (TypeError, ValueError, ImportError, OSError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: invalid extractor settings: {exc}") from None
    return extractor


def backbone_file(model: Any, path: Path, folder: Path | None, trust: bool) -> str:
    """Where a card's ``cnn.params.model`` may point: its own folder's backbone.onnx."""
    if not isinstance(model, str):
        raise ModelFileError(f"{path}: cnn model must be a file name, got {type(model).__name__}")
    if model == BACKBONE_NAME and folder is not None:
        target = folder / BACKBONE_NAME
        if target.is_symlink() or not target.is_file():
            raise ModelFileError(f"{path}: {BACKBONE_NAME} is missing or not a regular file")
        return os.fspath(target)
    if trust:
        return model
    raise ModelFileError(
        f"{path}: the card's CNN backbone is {model[:200]!r}, outside the model folder; only "
        f"the bundled backbone or {BACKBONE_NAME} saved in the model folder are loaded "
        "(pass trust_backbone=True for a model you made yourself)"
    )
