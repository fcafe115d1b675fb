"""Schema of a saved detector's ``card.json``: every field is checked before it is used.

A card comes from a file that may have been written by someone else, so nothing in it is
trusted: :func:`parse_card` refuses a card larger than :data:`CARD_MAX_BYTES` (before
parsing), nesting deeper than :data:`MAX_DEPTH`, and any field of the wrong type, outside
its range or larger than its size limit, with a :class:`CardError` naming the field in one
line. Keys this version does not know are checked only for size and depth (they are never
used); detector parameters that the installed ``DeepfakeDetector`` has but this schema does
not list are checked the same way, then by the estimator's own validation.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

from .._schema import (
    FINITE,
    GROUP_LIST,
    MAX_ITEMS,
    CardError,
    Check,
    anything,
    boolean,
    check_json,
    dict_of,
    either,
    hex64,
    integer,
    list_of,
    null,
    number,
    obj,
    one_of,
    optional,
    reject,
    string,
)
from ..features._spec import EXTRACTOR
from ._calibration import CALIBRATIONS

__all__ = ["CARD_MAX_BYTES", "CardError", "parse_card"]

#: Largest ``card.json`` read (bytes); real cards are a few hundred KiB.
CARD_MAX_BYTES = 16 * 1024 * 1024

# ----------------------------------------------------------------------------- the card
_NAME = string(256, min_len=1)
_NAMES = list_of(_NAME, min_len=1, max_len=200_000, unique=True)
_NUMBERS = list_of(FINITE, min_len=1, max_len=MAX_ITEMS)

#: DeepfakeDetector parameters (parameters not listed here go through ``anything`` and the
#: estimator's own validation).
DETECTOR_PARAMS: dict[str, tuple[Check, bool]] = {
    "feature_groups": (GROUP_LIST, False),
    "groups": (GROUP_LIST, False),  # the old name of feature_groups
    "features": (null, False),
    "n_estimators": (integer(1, 100_000), False),
    "learning_rate": (number(0, 10, open_lo=True), False),
    "max_depth": (integer(0, 64), False),
    "subsample": (number(0, 1, open_lo=True), False),
    "colsample_bytree": (number(0, 1, open_lo=True), False),
    "colsample_bynode": (number(0, 1, open_lo=True), False),
    "max_bin": (integer(2, 1 << 16), False),
    "min_child_weight": (number(0, 1e12), False),
    "reg_lambda": (number(0, 1e12), False),
    "scale_pos_weight": (
        either(one_of("auto"), number(0, 1e12, open_lo=True), expected='"auto" or a number > 0'),
        False,
    ),
    "early_stopping_rounds": (optional(integer(1, 1_000_000)), False),
    "validation_fraction": (number(0, 0.5, open_lo=True, open_hi=True), False),
    "calibration": (optional(one_of(*CALIBRATIONS)), False),
    "cache_dir": (optional(string(4096)), False),
    "linear_probe": (boolean, False),
    "probe_C": (number(0, 1e12, open_lo=True), False),
    "probe_keep_columns": (boolean, False),
    "refit": (boolean, False),
    "threshold": (number(0, 1), False),
    "audit": (boolean, False),
    "n_jobs": (optional(integer(-1024, 1024)), False),
    "random_state": (optional(integer(0, 2**32 - 1)), False),
    "progress": (boolean, False),
    "domain_fpr": (optional(number(0, 0.5, open_lo=True, open_hi=True)), False),
}


def _probe(value: Any, where: str) -> None:
    obj(
        {
            "columns": (_NAMES, True),
            "impute": (_NUMBERS, True),
            "mean": (_NUMBERS, True),
            "scale": (_NUMBERS, True),
            "coef": (_NUMBERS, True),
            "intercept": (FINITE, True),
        },
        extra=None,
    )(value, where)
    n = len(value["columns"])
    for key in ("impute", "mean", "scale", "coef"):
        if len(value[key]) != n:
            raise CardError(f"{where}.{key} has {len(value[key])} values for {n} columns")
    if any(s == 0 for s in value["scale"]):
        raise CardError(f"{where}.scale must not contain 0")


def _calibration(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        reject(where, "an object", value)
    kind = value.get("kind")
    if kind in ("isotonic", "smooth"):
        obj({"kind": (anything, True), "x": (_NUMBERS, True), "y": (_NUMBERS, True)}, extra=None)(
            value, where
        )
        x, y = value["x"], value["y"]
        if len(x) != len(y):
            raise CardError(f"{where}: {kind} x and y differ in length")
        if any(b < a for a, b in itertools.pairwise(x)):
            raise CardError(f"{where}.x must be non-decreasing")
        if any(not 0.0 <= v <= 1.0 for v in y):
            raise CardError(f"{where}.y must be probabilities in [0, 1]")
    elif kind == "sigmoid":
        obj({"kind": (anything, True), "a": (FINITE, True), "b": (FINITE, True)}, extra=None)(
            value, where
        )
    else:
        reject(f"{where}.kind", " or ".join(f'"{c}"' for c in CALIBRATIONS), kind)


def _domain(value: Any, where: str) -> None:
    matrix = list_of(_NUMBERS, max_len=1024)
    positive = number(0, math.inf, open_lo=True)
    obj(
        {
            "method": (one_of("pca_t2_spe"), True),
            "n_components": (integer(1, 1024), True),
            "clip": (positive, True),
            "columns": (_NAMES, True),
            "center": (_NUMBERS, True),
            "scale": (list_of(positive, min_len=1), True),
            "missing": (list_of(number(0, 1), min_len=1), True),
            "mean": (_NUMBERS, True),
            "components": (either(matrix, list_of(anything, max_len=0), expected="a matrix"), True),
            "variances": (list_of(positive), True),
            "t2_norm": (positive, True),
            "spe_norm": (positive, True),
            "threshold": (positive, True),
            "fpr": (number(0, 1), False),
        },
        extra=None,
    )(value, where)
    d = len(value["columns"])
    for key in ("center", "scale", "missing", "mean"):
        if len(value[key]) != d:
            raise CardError(f"{where}.{key} has {len(value[key])} values for {d} columns")
    if len(value["components"]) != len(value["variances"]) or any(
        len(row) != d for row in value["components"]
    ):
        raise CardError(f"{where}.components do not match variances and columns")


_SOURCE_ROW = dict_of(
    either(string(1024), optional(FINITE), boolean, expected="a string, number or boolean")
)

CARD_FIELDS: dict[str, tuple[Check, bool]] = {
    "format": (string(64), True),
    "format_version": (integer(0, 1_000_000), True),
    "created": (optional(string(64)), False),
    "model_file": (one_of("model.ubj"), False),
    "model_sha256": (hex64, True),
    "feature_names": (_NAMES, True),
    "model_columns": (_NAMES, False),
    "linear_probe": (optional(_probe), False),
    "groups": (GROUP_LIST, False),
    "params": (obj(DETECTOR_PARAMS), False),
    "threshold": (number(0, 1), False),
    "calibration": (optional(_calibration), False),
    "scale_pos_weight": (number(0, 1e12, open_lo=True), False),
    "best_iteration": (integer(0, 10_000_000), False),
    "extractor": (optional(EXTRACTOR), False),
    "backbone_sha256": (optional(hex64), False),
    "training": (optional(dict_of(anything)), False),
    "sidecar_columns": (list_of(string(256)), False),
    "leakage_warnings": (list_of(string(100_000), max_len=1_000_000), False),
    "domain": (optional(_domain), False),
    "source_audit": (optional(list_of(_SOURCE_ROW, max_len=10_000)), False),
    "source_warnings": (list_of(string(100_000), max_len=10_000), False),
    "versions": (optional(dict_of(string(256))), False),
}


def parse_card(data: bytes, *, format_name: str, version: int) -> dict[str, Any]:
    """Parse and validate the bytes of a ``card.json``.

    Parameters
    ----------
    data : bytes
        The file's content (at most :data:`CARD_MAX_BYTES`; the caller checks the size
        before reading).
    format_name, version : str, int
        The expected ``format`` and ``format_version``.

    Returns
    -------
    dict
        The card, every known field checked.

    Raises
    ------
    CardError
        One line naming the first offending field.
    """
    if len(data) > CARD_MAX_BYTES:
        raise CardError(f"larger than {CARD_MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
        card = json.loads(text)
    except UnicodeDecodeError as exc:
        raise CardError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise CardError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise CardError("nested too deeply to parse") from None
    if not isinstance(card, dict) or card.get("format") != format_name:
        raise CardError("not a deepfeat detector card")
    if card.get("format_version") != version:
        raise CardError(f"unsupported card version {repr(card.get('format_version'))[:40]}")
    check_json(card, "card")
    obj(CARD_FIELDS)(card, "card")
    names = set(card["feature_names"])
    probe = card.get("linear_probe")
    if probe is not None and not set(probe["columns"]) <= names:
        raise CardError("card.linear_probe.columns are not all in feature_names")
    columns = card.get("model_columns", card["feature_names"])
    allowed = names | ({"cnn_probe"} if probe is not None else set())
    if not set(columns) <= allowed or (probe is not None and columns[-1] != "cnn_probe"):
        raise CardError("card.model_columns do not match feature_names and linear_probe")
    return card
