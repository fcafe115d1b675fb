"""Model files of :class:`~deepfeat.DeepfakeDetector`: ``card.json`` + ``model.ubj``.

Nothing is pickled. Loading trusts nothing: sizes are checked before reading, the card
against a schema (:mod:`deepfeat.detector._card_schema`), the XGBoost file by a strict parser
(:mod:`deepfeat.detector._ubj`) and the CNN backbone by its sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._io import open_regular
from .._schema import ModelFileError, json_safe
from .._version import __version__
from ..features._spec import BACKBONE_NAME, extractor_from_json, extractor_to_json
from ._calibration import Calibrator
from ._card_schema import CARD_MAX_BYTES, CardError, parse_card
from ._inputs import feature_groups
from ._stacking import LinearProbe
from ._training import set_importances

__all__ = ["CARD_FORMAT", "CARD_NAME", "MODEL_NAME", "load", "make_card", "save"]

CARD_NAME = "card.json"
MODEL_NAME = "model.ubj"
#: Largest ``model.ubj`` read (bytes; a 600-tree model is about 1 MiB).
MODEL_MAX_BYTES = 256 * 1024 * 1024
_SIZE_LIMITS = {CARD_NAME: CARD_MAX_BYTES, MODEL_NAME: MODEL_MAX_BYTES}
CARD_FORMAT = "deepfeat-detector"
CARD_VERSION = 1


# ------------------------------------------------------------------ persistence
def make_card(det: Any) -> dict[str, Any]:
    """The model card of a fitted detector (everything but the model file's sha256)."""
    import sklearn
    import xgboost

    params = det.get_params(deep=False)
    params.pop("features")
    if params.get("groups") == "deprecated":
        params.pop("groups")
    else:  # saved under the new name
        params["feature_groups"] = params.pop("groups")
    extractor = None
    backbone = None
    if det.features_ is not None:
        extractor = extractor_to_json(det.features_)
        backbone = extractor.get("backbone_sha256")
    return {
        "format": CARD_FORMAT,
        "format_version": CARD_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_file": MODEL_NAME,
        "model_sha256": None,
        "feature_names": list(det.columns_),
        "sidecar_columns": list(det.sidecar_columns_),
        "model_columns": list(det.model_columns_),
        "linear_probe": None if det.probe_ is None else det.probe_.to_json(),
        "groups": list(feature_groups(det)),
        "params": json_safe(params),
        "threshold": float(det.threshold),
        "calibration": None if det.calibrator_ is None else det.calibrator_.to_json(),
        "scale_pos_weight": det.scale_pos_weight_,
        "best_iteration": det.best_iteration_,
        "extractor": extractor,
        "backbone_sha256": backbone,
        "training": json_safe(det.training_summary_),
        "leakage_warnings": list(det.leakage_warnings_),
        "domain": None if getattr(det, "domain_", None) is None else det.domain_.to_json(),
        "source_audit": _source_records(getattr(det, "source_report_", None)),
        "source_warnings": list(getattr(det, "source_warnings_", [])),
        "versions": {
            "deepfeat": __version__,
            "xgboost": xgboost.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }


def _source_records(report: Any) -> list[dict[str, Any]] | None:
    """The source audit as JSON records (NaN as null), or None without one."""
    if report is None:
        return None
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
        for r in json_safe(report.to_dict("records"))
    ]


def save(det: Any, path: str | Path) -> Path:
    """Write ``det`` to a folder or ``.zip`` (see :meth:`DeepfakeDetector.save`)."""
    path = Path(path)
    raw = bytes(det.model_.get_booster().save_raw(raw_format="ubj"))
    card = make_card(det)
    card["model_sha256"] = hashlib.sha256(raw).hexdigest()
    cnn = ((card.get("extractor") or {}).get("transformers") or {}).get("cnn")
    own_backbone = None
    zipped = path.suffix.lower() == ".zip"
    if cnn is not None and cnn["params"].get("model") is not None and not zipped:
        own_backbone = Path(cnn["params"]["model"])
        cnn["params"]["model"] = BACKBONE_NAME
    card_bytes = json.dumps(card, indent=2, sort_keys=True).encode()
    if path.suffix.lower() == ".zip":
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(CARD_NAME, card_bytes)
            zf.writestr(MODEL_NAME, raw)
    else:
        path.mkdir(parents=True, exist_ok=True)
        unknown = sorted(
            p.name for p in path.iterdir() if p.name not in (CARD_NAME, MODEL_NAME, BACKBONE_NAME)
        )
        if unknown:
            raise FileExistsError(
                f"{path} holds other files ({unknown[:3]}); choose an empty folder"
            )
        target = path / BACKBONE_NAME
        if own_backbone is not None and not (
            target.exists() and os.path.samefile(own_backbone, target)
        ):
            shutil.copyfile(own_backbone, target)
        elif own_backbone is None:
            target.unlink(missing_ok=True)
        (path / MODEL_NAME).write_bytes(raw)
        (path / CARD_NAME).write_bytes(card_bytes)
    return path


def load(cls: type, path: str | Path, *, trust_backbone: bool = False) -> Any:
    """Read a detector of class ``cls`` (see :meth:`DeepfakeDetector.load`)."""
    path = Path(path)
    files = _read_model_files(path)
    try:
        card = parse_card(files[CARD_NAME], format_name=CARD_FORMAT, version=CARD_VERSION)
    except CardError as exc:
        raise ModelFileError(f"{path}: card.json: {exc}") from None
    raw = files[MODEL_NAME]
    if hashlib.sha256(raw).hexdigest() != card["model_sha256"]:
        raise ModelFileError(f"{path}: model.ubj does not match the sha256 in card.json")
    from ._ubj import UBJError, check_model

    try:  # XGBoost's C++ loader aborts or segfaults on malformed bytes
        n_model_features = check_model(raw)
    except UBJError as exc:
        raise ModelFileError(f"{path}: model.ubj is not a valid XGBoost model: {exc}") from None
    names = card["feature_names"]
    params = card.get("params") or {}
    valid = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ModelFileError(f"{path}: card has unknown parameters {unknown}")
    try:
        params = dict(params)
        if "groups" in params:  # cards written before the feature_groups= rename
            params["feature_groups"] = params.pop("groups")
        det = cls(**{k: (tuple(v) if k == "feature_groups" else v) for k, v in params.items()})
        det._validate_params()
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: card.json: invalid params: {exc}") from None
    extractor = card.get("extractor")
    folder = path if path.is_dir() else None
    det.features_ = (
        None
        if extractor is None
        else extractor_from_json(extractor, path, folder=folder, trust_backbone=trust_backbone)
    )
    if folder is not None and (folder / BACKBONE_NAME).exists():
        cnn = None if det.features_ is None else det.features_.transformers_.get("cnn")
        if cnn is None or cnn.model is None or Path(cnn.model).name != BACKBONE_NAME:
            raise ModelFileError(f"{path}: {BACKBONE_NAME} is not used by the card")

    from xgboost import XGBClassifier

    model = XGBClassifier()
    try:
        model.load_model(bytearray(raw))
    except Exception as exc:  # xgboost raises its own error types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelFileError(f"{path}: model.ubj is not a valid XGBoost model: {first}") from None
    det.model_ = model
    det.columns_ = np.asarray(names, dtype=object)
    det.feature_names_in_ = det.columns_
    det.sidecar_columns_ = [str(c) for c in card.get("sidecar_columns", [])]
    probe = card.get("linear_probe")
    det.probe_ = None if probe is None else LinearProbe.from_json(probe)
    model_columns = card.get("model_columns", names)
    if len(model_columns) != n_model_features:
        raise ModelFileError(
            f"{path}: card lists {len(model_columns)} model_columns but model.ubj has "
            f"{n_model_features} features"
        )
    det.model_columns_ = np.asarray(model_columns, dtype=object)
    det.n_features_in_ = len(names)
    det.classes_ = np.array([0, 1])
    det.scale_pos_weight_ = float(card.get("scale_pos_weight", 1.0))
    det.best_iteration_ = int(card.get("best_iteration", 0))
    cal = card.get("calibration")
    det.calibrator_ = None if cal is None else Calibrator.from_json(cal)
    det.threshold = float(card.get("threshold", 0.5))
    det.leakage_warnings_ = list(card.get("leakage_warnings", []))
    _load_audits(det, card, path, names)
    det.training_summary_ = dict(card.get("training") or {})
    set_importances(det)
    return det


def _load_audits(det: Any, card: dict[str, Any], path: Path, names: list[str]) -> None:
    """``domain_`` and the source audit from the card (absent in cards before 0.3)."""
    import pandas as pd

    from ._domain import DomainModel

    domain = card.get("domain")
    det.domain_ = None
    if domain is not None:
        if domain["columns"] != list(names):
            raise ModelFileError(f"{path}: card.domain.columns differ from feature_names")
        try:
            det.domain_ = DomainModel.from_json(domain)
        except ValueError as exc:
            raise ModelFileError(f"{path}: card.domain: {exc}") from None
    records = card.get("source_audit")
    det.source_report_ = None if records is None else pd.DataFrame(records)
    det.source_warnings_ = list(card.get("source_warnings", []))


def _read_limited(fh: Any, limit: int, where: str) -> bytes:
    data = fh.read(limit + 1)  # never more than the limit, whatever a header claims
    if len(data) > limit:
        raise ModelFileError(f"{where} is larger than the limit of {limit} bytes")
    return data


def _read_model_files(path: Path) -> dict[str, bytes]:
    """card.json and model.ubj of a model folder or zip; sizes checked before reading."""
    expected = {CARD_NAME, MODEL_NAME}
    if path.is_dir():
        present = {p.name for p in path.iterdir()}
        unknown = sorted(present - expected - {BACKBONE_NAME})
        if unknown:
            raise ModelFileError(
                f"{path}: unexpected files {unknown}; a model folder holds only card.json and "
                "model.ubj (nothing is ever unpickled)"
            )
        missing = sorted(expected - present)
        if missing:
            raise ModelFileError(f"{path}: missing {missing}")
        files = {}
        for name in sorted(expected):
            try:
                fh = open_regular(path / name)  # a FIFO or device is refused, never read
            except OSError as exc:
                raise ModelFileError(f"{path}: {name}: {exc.strerror or exc}") from None
            with fh:
                size = os.fstat(fh.fileno()).st_size
                if size > _SIZE_LIMITS[name]:
                    raise ModelFileError(
                        f"{path}: {name} is {size} bytes, over the limit of {_SIZE_LIMITS[name]}"
                    )
                files[name] = _read_limited(fh, _SIZE_LIMITS[name], f"{path}: {name}")
        return files
    if path.is_file() and zipfile.is_zipfile(path):
        limit = sum(_SIZE_LIMITS.values())
        if path.stat().st_size > limit:
            raise ModelFileError(f"{path}: archive larger than the limit of {limit} bytes")
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                unknown = sorted(set(names) - expected)
                if unknown:
                    raise ModelFileError(f"{path}: unexpected archive members {unknown[:5]}")
                if len(names) != len(set(names)):
                    raise ModelFileError(f"{path}: duplicated archive members")
                missing = sorted(expected - set(names))
                if missing:
                    raise ModelFileError(f"{path}: missing {missing}")
                files = {}
                for name in sorted(expected):
                    info = zf.getinfo(name)
                    if info.file_size > _SIZE_LIMITS[name]:  # before decompressing anything
                        raise ModelFileError(
                            f"{path}: {name} is {info.file_size} bytes uncompressed, over the "
                            f"limit of {_SIZE_LIMITS[name]}"
                        )
                    with zf.open(info) as fh:
                        files[name] = _read_limited(fh, _SIZE_LIMITS[name], f"{path}: {name}")
                return files
        except ModelFileError:
            raise
        except Exception as exc:  # BadZipFile, zlib.error, unsupported compression …
            raise ModelFileError(f"{path}: unreadable zip archive: {exc}") from None
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    raise ModelFileError(f"{path}: not a model folder or zip archive")
