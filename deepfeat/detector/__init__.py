"""The detector: :class:`DeepfakeDetector` and the parts behind it.

* ``_estimator`` — :class:`DeepfakeDetector`: parameters, ``fit``, predict methods,
  ``explain``, ``save`` / ``load``;
* ``_training`` — the one training recipe (probe, imbalance weights, grouped hold-out,
  early stopping, calibration, refit, audits, domain model), shared with the Dask path;
* ``_inputs`` — what ``fit`` and ``predict`` accept, turned into a feature table;
* ``_stacking`` — the stacked linear probe; ``_calibration`` — calibration maps;
* ``_domain`` — the out-of-domain model; ``_verdict`` — what a verdict says (``explain``);
* ``_persist`` — model files, checked against ``_card_schema`` (the card) and ``_ubj``
  (the XGBoost file) before use; never pickle.

Names are imported on first use, so that the command line can read the calibration
choices without loading scikit-learn or XGBoost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["DeepfakeDetector", "ModelFileError", "encode_labels"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._estimator import DeepfakeDetector, ModelFileError, encode_labels


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _estimator

        return getattr(_estimator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
