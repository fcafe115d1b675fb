"""Grouped splits, metrics, leakage audit and ablation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from deepfeat import ablation, grouped_splits, leakage_report
from deepfeat.evaluation import (
    expected_calibration_error,
    metrics_from_scores,
    single_feature_auc,
    tpr_at_fpr,
)


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n // 4), 4)
    y = (rng.random(n) < 0.75).astype(int)
    X = pd.DataFrame(
        {
            "fft_000": y * 1.5 + rng.normal(size=n),
            "fft_001": rng.normal(size=n),
            "cnn_0000": y * 0.8 + rng.normal(size=n),
            "meta_container_width": np.full(n, 224.0),
        }
    )
    return X, y, groups


def test_grouped_splits_never_share_a_group():
    _X, y, groups = _data()
    seen = []
    for train, test in grouped_splits(y, groups, n_splits=5):
        assert not set(groups[train]) & set(groups[test])
        assert set(y[test]) == {0, 1}
        seen.extend(test)
    assert sorted(seen) == list(range(len(y)))


def test_grouped_splits_too_few_groups():
    with pytest.raises(ValueError, match="groups"):
        list(grouped_splits([0, 1, 0, 1], [1, 1, 2, 2], n_splits=3))


def test_metrics_match_sklearn_and_have_no_plain_accuracy():
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.8).astype(int)
    p = np.clip(0.5 * y + rng.random(300) * 0.6, 0, 1)
    m = metrics_from_scores(y, p, threshold=0.5)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert "accuracy" not in m
    (tn, fp), (fn, tp) = m["confusion_matrix"]
    assert tn + fp == (y == 0).sum() and fn + tp == (y == 1).sum()
    assert m["balanced_accuracy"] == pytest.approx(0.5 * (tn / (tn + fp) + tp / (tp + fn)))


def test_constant_predictor_scores_chance():
    y = np.array([0] * 20 + [1] * 80)
    m = metrics_from_scores(y, np.full(100, 0.9))
    assert m["roc_auc"] == 0.5 and m["balanced_accuracy"] == 0.5


def test_tpr_at_fpr_and_ece():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8, 0.95, 0.99])
    assert tpr_at_fpr(y, s, 0.0) == 0.5  # 0.95 and 0.99 above every real
    assert tpr_at_fpr(y, s, 0.25) == 1.0
    assert expected_calibration_error(y, y.astype(float)) == 0.0


def test_single_feature_auc_matches_sklearn():
    X, y, _ = _data()
    aucs = single_feature_auc(X, y)
    for j, col in enumerate(X.columns[:3]):
        assert aucs[j] == pytest.approx(roc_auc_score(y, X[col]))
    assert aucs[3] == pytest.approx(0.5)


def test_leakage_report_flags_shortcuts_and_explains():
    X, y, groups = _data()
    X["meta_container_width"] = np.where(y == 1, 256.0, 224.0)
    X["meta_sidecar_original_width"] = np.where(y == 1, 0.0, 300.0)
    report = leakage_report(X, y, groups)
    flagged = set(report.loc[report.flag, "feature"])
    assert {"meta_container_width", "meta_sidecar_original_width"} <= flagged
    assert "fft_000" not in flagged
    assert "meta (whole group)" in set(report.feature)
    row = report.set_index("feature").loc["meta_container_width"]
    assert "source" in row.explanation
    assert list(report.columns) == ["feature", "group", "auc", "flag", "explanation"]


def test_ablation_reports_every_subset_with_folds():
    X, y, groups = _data()
    res = ablation(X, y, groups, cv=3, estimator=None)
    summary = res.attrs["summary"]
    assert list(summary.index) == [
        "cnn",
        "fft",
        "meta",
        "cnn+fft",
        "cnn+meta",
        "fft+meta",
        "cnn+fft+meta",
    ]
    assert len(res) == 7 * 3
    assert summary.loc["meta", ("roc_auc", "mean")] == pytest.approx(0.5)
    assert summary.loc["cnn+fft", ("roc_auc", "mean")] > summary.loc["cnn", ("roc_auc", "mean")]
    assert summary.loc["fft", ("roc_auc", "mean")] > 0.75


def test_ablation_logs_a_repeated_fit_warning_once(caplog):
    import logging

    from deepfeat import DeepfakeDetector

    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 20)  # 40 samples: too few for a validation fold inside each fit
    X = pd.DataFrame({"fft_000": y + rng.normal(0, 0.5, 40), "meta_x": rng.normal(size=40)})
    with caplog.at_level(logging.WARNING):
        ablation(X, y, cv=3, estimator=DeepfakeDetector(n_estimators=10))
    too_few = [r for r in caplog.records if r.name == "deepfeat.detector"]
    assert len(too_few) == 1
    repeats = [r for r in caplog.records if "logged 9 times" in r.getMessage()]
    assert len(repeats) == 1
    # the filter is gone afterwards: a plain fit warns again
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        DeepfakeDetector(n_estimators=10).fit(X, y)
    assert any("too few samples" in r.getMessage() for r in caplog.records)


def test_ablation_progress_and_stage_logs(caplog, capsys):
    import pandas as pd

    from deepfeat import DeepfakeDetector, ablation

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 90)
    X = pd.DataFrame({"fft_000": y + rng.normal(0, 0.5, 90), "meta_x": rng.normal(size=90)})
    est = DeepfakeDetector(n_estimators=20, audit=False)
    with caplog.at_level("INFO", logger="deepfeat.evaluation"):
        ablation(X, y, cv=3, estimator=est)
    assert "ablation fft+meta: ROC AUC" in caplog.text
    assert "ablation" not in capsys.readouterr().err
    ablation(X, y, cv=3, estimator=est, progress=True)
    assert "9/9" in capsys.readouterr().err
