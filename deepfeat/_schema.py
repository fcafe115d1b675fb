"""Shared conventions of the house, at the bottom of the import graph.

Every module may import from here; this module imports nothing from ``deepfeat``.
It holds the feature groups, the failure-record columns, the provenance columns that
must never become features, the label vocabulary and the feature-name rule.

Examples
--------
>>> from deepfeat._schema import GROUPS, feature_group, is_feature_name
>>> GROUPS
('cnn', 'fft', 'meta')
>>> feature_group("cnn_s4_mean_012")
'cnn'
>>> is_feature_name("fft_000"), is_feature_name("Bad__name")
(True, False)
"""

from __future__ import annotations

import re

__all__ = [
    "CLASS_NAMES",
    "EXTRACTOR_KEY",
    "FAILURE_COLUMNS",
    "FEATURE_NAME",
    "GROUPS",
    "LABEL_NAMES",
    "LEAK_COLUMNS",
    "feature_group",
    "is_feature_name",
]

#: The feature groups, in the fixed column order of the output.
GROUPS: tuple[str, ...] = ("cnn", "fft", "meta")

#: Columns of a failure record: one row per input that produced no features.
FAILURE_COLUMNS: list[str] = ["path", "stage", "reason"]

#: Parquet schema-metadata key under which a feature table records its extractor.
EXTRACTOR_KEY = b"deepfeat_extractor"

#: A feature column name: lowercase, group prefix first (no double underscore, checked apart).
FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: Columns that describe provenance and leak the label or the identity; never features.
LEAK_COLUMNS = frozenset(
    {
        "original",
        "label",
        "group",
        "path",
        "pair_group",
        "videoname",
        "generator_or_method",
        "generator",
        "source_repo",
        "source_path",
        "split",
    }
)

#: Case-insensitive class folder names. 0 = real, 1 = fake.
CLASS_NAMES: dict[str, int] = {
    **dict.fromkeys(
        [
            "real",
            "reals",
            "genuine",
            "authentic",
            "original",
            "originals",
            "pristine",
            "bonafide",
            "bona_fide",
            "live",
            "human",
            "0",
        ],
        0,
    ),
    **dict.fromkeys(
        [
            "fake",
            "fakes",
            "ai",
            "ai_generated",
            "generated",
            "synthetic",
            "manipulated",
            "deepfake",
            "deepfakes",
            "gan",
            "diffusion",
            "spoof",
            "swapped",
            "forged",
            "1",
        ],
        1,
    ),
}

#: Label -> display name (0 = real, 1 = fake everywhere).
LABEL_NAMES: dict[int, str] = {0: "real", 1: "fake"}


def feature_group(name: str) -> str:
    """The group of a feature column (``"cnn_0007"`` → ``"cnn"``)."""
    return name.split("_", 1)[0]


def is_feature_name(name: str) -> bool:
    """Whether ``name`` follows the feature-name rule (lowercase, ``[a-z0-9_]``, no ``__``)."""
    return bool(FEATURE_NAME.match(name)) and "__" not in name
