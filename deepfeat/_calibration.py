"""Calibration choices of ``DeepfakeDetector`` (light: the CLI parser reads them).

The maps themselves are in :mod:`deepfeat.detector` (``_Calibrator``).
"""

from __future__ import annotations

__all__ = ["CALIBRATIONS", "DEFAULT_CALIBRATION"]

#: Calibration maps ``DeepfakeDetector(calibration=...)`` accepts (besides ``None``).
CALIBRATIONS = ("sigmoid", "isotonic", "smooth")
#: The default, chosen by measurement: out-of-sample ECE and Brier on DFDC and k140 over
#: grouped folds (``scripts/bench_calibration.py``; numbers in docs/benchmarks.md).
DEFAULT_CALIBRATION = "sigmoid"
