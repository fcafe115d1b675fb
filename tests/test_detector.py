"""DeepfakeDetector: training, prediction, explanations, save/load safety, sklearn integration."""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks
from xgboost import XGBClassifier

from deepfeat import (
    DeepfakeDetector,
    ImageFeatures,
    MetadataFeatures,
    evaluate,
    grouped_splits,
    load_dataset,
)
from deepfeat.detector import ModelFileError, _training
from deepfeat.evaluation import metrics_from_scores


@pytest.fixture(scope="module")
def demo_features(demo_dir):
    df = load_dataset(demo_dir)
    feats = ImageFeatures(groups=("fft",)).set_output(transform="pandas")
    X = feats.fit_transform(df)
    return df, X


def _fast(**kw):
    params = {"n_estimators": 60, "audit": False, "random_state": 0, "linear_probe": False}
    params.update(kw)
    return DeepfakeDetector(**params)


def _table(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.75).astype(int)
    groups = np.repeat(np.arange(n // 3), 3)[:n]
    X = pd.DataFrame(
        {
            "cnn_0000": y + rng.normal(0, 0.8, n),
            "cnn_0001": rng.normal(size=n),
            "fft_000": y * 0.5 + rng.normal(0, 1, n),
            "meta_x": rng.normal(size=n),
        }
    )
    return X, y, groups


def test_fft_alone_detects_demo_upsampling_on_held_out_groups(demo_features):
    df, X = demo_features
    y, groups = df["label"].to_numpy(), df["group"].to_numpy()
    train, test = next(grouped_splits(y, groups, n_splits=3))
    assert not set(groups[train]) & set(groups[test])
    det = _fast().fit(X.iloc[train], y[train], groups=groups[train])
    m = evaluate(det, X.iloc[test], y[test])
    assert m["roc_auc"] > 0.9
    assert m["balanced_accuracy"] > 0.8
    constant = metrics_from_scores(y[test], np.full(len(test), 0.8))
    assert m["roc_auc"] > constant["roc_auc"] + 0.4
    assert m["balanced_accuracy"] > constant["balanced_accuracy"] + 0.3


def test_fit_from_paths_dataset_and_features_agree(demo_dir):
    df = load_dataset(demo_dir)
    by_df = _fast(feature_groups=("fft",)).fit(df)
    by_paths = _fast(feature_groups=("fft",)).fit(list(df["path"]), df["label"], groups=df["group"])
    np.testing.assert_allclose(
        by_df.predict_proba(df)[:, 1], by_paths.predict_proba(df["path"])[:, 1], rtol=1e-6
    )
    assert list(by_df.feature_names_in_[:2]) == ["fft_000", "fft_001"]


def test_scale_pos_weight_is_class_ratio():
    X, y, g = _table()
    det = _fast().fit(X, y, groups=g)
    assert det.scale_pos_weight_ == pytest.approx((y == 0).sum() / (y == 1).sum())
    assert det.model_.get_params()["scale_pos_weight"] == pytest.approx(det.scale_pos_weight_)
    assert _fast(scale_pos_weight=1.0).fit(X, y, groups=g).scale_pos_weight_ == 1.0


def test_predict_shapes_threshold_and_decision(demo_features):
    df, X = demo_features
    det = _fast().fit(X, df.label, groups=df.group)
    proba = det.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    margin = det.decision_function(X)
    assert np.all(np.diff(proba[np.argsort(margin), 1]) >= -1e-9)
    assert set(det.predict(X)) <= {0, 1}
    det.set_threshold_for_fpr(X, df.label, fpr=0.0)
    real_scores = proba[df.label.to_numpy() == 0, 1]
    assert det.threshold > real_scores.max()
    assert (det.predict(X)[df.label.to_numpy() == 0] == 0).all()


@pytest.mark.parametrize("kind", ["isotonic", "sigmoid", "smooth"])
def test_calibration(kind):
    X, y, g = _table(600)
    det = _fast(calibration=kind).fit(X, y, groups=g)
    assert det.calibrator_ is not None
    p = det.predict_proba(X)[:, 1]
    assert np.all((p >= 0) & (p <= 1))
    margin = det.decision_function(X)
    order = np.argsort(margin)
    assert np.all(np.diff(p[order]) >= -1e-9)  # calibration is monotone


@pytest.mark.parametrize("kind", ["isotonic", "sigmoid", "smooth", None])
def test_decision_function_is_positive_exactly_where_predict_says_fake(kind):
    """The calibration map and the threshold move the decision away from raw margin 0 (a
    sigmoid map with an intercept did: 1 of 200 rows disagreed on xgboost 3.2, 5 on 3.4)."""
    X, y, g = _table(600)
    det = _fast(calibration=kind).fit(X, y, groups=g)
    for threshold in (det.threshold, 0.3, 0.8, 0.0, 1.0):
        det.set_params(threshold=threshold)
        decision, label = det.decision_function(X), det.predict(X)
        assert np.array_equal(decision > 0, label == 1) or np.array_equal(
            decision >= 0, label == 1
        ), threshold
    det.set_threshold_for_fpr(X, y, fpr=0.05)
    assert np.array_equal(det.decision_function(X) >= 0, det.predict(X) == 1)
    ex = det.explain(X.iloc[:20], top=1)
    np.testing.assert_allclose(ex["margin"], det.decision_function(X.iloc[:20]), atol=1e-4)


@pytest.mark.parametrize("kind", ["isotonic", "sigmoid", "smooth"])
def test_validation_calibration_quality_is_out_of_sample(kind):
    """The fold a calibration map is fitted on never scores it (isotonic gave ECE 0 there)."""
    from deepfeat.detector._calibration import Calibrator

    X, y, g = _table(600)
    det = _fast(calibration=kind).fit(X, y, groups=g)
    m = det.validation_metrics_
    assert "cross-fitted" in m["calibration_evaluation"]
    assert m["ece"] > 0.01  # the in-sample isotonic ECE of the same fold is exactly 0
    train, val = _training.holdout_split(det, y, np.asarray(g).astype(str))
    early = XGBClassifier(
        **_training.xgb_params(det, det.n_estimators, det.early_stopping_rounds)
    ).fit(
        X.to_numpy(np.float32)[train],
        y[train],
        eval_set=[(X.to_numpy(np.float32)[val], y[val])],
        verbose=False,
    )
    raw = early.predict_proba(X.to_numpy(np.float32)[val])[:, 1]
    own = Calibrator.fit(kind, raw, y[val])(raw)
    assert m["ece"] != pytest.approx(metrics_from_scores(y[val], own)["ece"])


def test_tiny_validation_fold_reports_no_calibration_quality():
    """Too few samples to cross-fit the map: Brier and ECE are left out, and it says so."""
    rng = np.random.default_rng(0)
    raw, y = rng.random(30), np.r_[0, np.ones(29, int)]  # one real: no two parts with both
    det = _fast(calibration="isotonic")
    m = _training.validation_metrics(det, raw, y, np.arange(30).astype(str))
    assert "ece" not in m and "brier" not in m and "roc_auc" in m
    assert m["calibration_evaluation"].startswith("not reported")
    m = _training.validation_metrics(_fast(calibration=None), raw, y, np.arange(30).astype(str))
    assert "ece" in m and m["calibration_evaluation"].startswith("uncalibrated")


def test_smooth_calibration_keeps_distinct_probabilities(tmp_path):
    from deepfeat.detector._calibration import Calibrator

    rng = np.random.default_rng(0)
    raw = rng.random(2000)
    y = (rng.random(2000) < raw).astype(int)
    iso = Calibrator.fit("isotonic", raw, y)(raw)
    smooth_map = Calibrator.fit("smooth", raw, y)
    smooth = smooth_map(raw)
    assert len(np.unique(smooth)) > 10 * len(np.unique(iso))
    assert np.all(np.diff(smooth[np.argsort(raw)]) >= -1e-12)  # monotone
    again = Calibrator.from_json(json.loads(json.dumps(smooth_map.to_json())))
    np.testing.assert_array_equal(again(raw), smooth)


def test_default_calibration_is_the_measured_choice():
    from deepfeat.detector._calibration import DEFAULT_CALIBRATION

    assert DeepfakeDetector().calibration == DEFAULT_CALIBRATION == "sigmoid"
    doc = (Path(__file__).resolve().parents[1] / "docs" / "calibration.md").read_text()
    assert "`sigmoid`" in doc and "bench_calibration.py" in doc


def test_importances_and_explanations():
    X, y, g = _table()
    det = _fast().fit(X, y, groups=g)
    assert det.feature_importances_.shape == (4,)
    assert det.feature_importances_.sum() == pytest.approx(1.0)
    assert det.feature_importances_.argmax() == 0  # cnn_0000 carries the signal
    assert set(det.group_importances_.index) == {"cnn", "fft", "meta"}
    assert det.group_importances_.sum() == pytest.approx(1.0)
    ex = det.explain(X.iloc[:5], top=2)
    parts = ex[["contrib_cnn", "contrib_fft", "contrib_meta", "contrib_bias"]].sum(axis=1)
    np.testing.assert_allclose(parts, ex["margin"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ex["margin"], det.decision_function(X.iloc[:5]), atol=1e-4)
    assert len(ex["top_features"][0]) == 2
    assert ex.attrs["contributions"].shape == (5, 4)


def test_leakage_audit_surfaces_warnings():
    X, y, g = _table()
    X["meta_container_width"] = np.where(y == 1, 256.0, 224.0)
    det = _fast(audit=True).fit(X, y, groups=g)
    assert any("meta_container_width" in w for w in det.leakage_warnings_)


# ------------------------------------------------------------------ save / load


@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_save_load_round_trip(tmp_path, demo_dir, suffix):
    df = load_dataset(demo_dir)
    det = _fast(feature_groups=("fft",), calibration="isotonic").fit(df)
    path = det.save(tmp_path / f"model{suffix}")
    loaded = DeepfakeDetector.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(df), det.predict_proba(df))
    assert list(loaded.feature_names_in_) == list(det.feature_names_in_)
    assert loaded.threshold == det.threshold
    card = json.loads(
        (path / "card.json").read_text()
        if path.is_dir()
        else zipfile.ZipFile(path).read("card.json")
    )
    assert card["training"]["n_samples"] == len(df)
    assert card["versions"]["deepfeat"]


def test_load_refuses_planted_pickle(tmp_path):
    X, y, g = _table()
    path = _fast().fit(X, y, groups=g).save(tmp_path / "m")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (marker.write_text, ("executed",))

    (path / "extra.pkl").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFileError, match="unexpected files"):
        DeepfakeDetector.load(path)
    assert not marker.exists()
    # the same pickle in place of the model file
    (path / "extra.pkl").unlink()
    (path / "model.ubj").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFileError, match="sha256"):
        DeepfakeDetector.load(path)
    assert not marker.exists()


def test_load_refuses_tampered_card(tmp_path):
    X, y, g = _table()
    good = _fast().fit(X, y, groups=g).save(tmp_path / "m")
    cases = {
        "detector card": lambda c: c.update(format="something-else"),
        "unknown parameters": lambda c: c["params"].update(__reduce__="os.system"),
        "feature_names": lambda c: c.update(feature_names="cnn_0000"),
        "calibration": lambda c: c.update(calibration={"kind": "pickle"}),
    }
    for words, change in cases.items():
        bad = tmp_path / f"bad_{len(words)}_{words[:4]}"
        shutil.copytree(good, bad)
        card = json.loads((bad / "card.json").read_text())
        change(card)
        (bad / "card.json").write_text(json.dumps(card))
        with pytest.raises(ModelFileError, match=words):
            DeepfakeDetector.load(bad)
    (good / "card.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="JSON"):
        DeepfakeDetector.load(good)


def test_load_refuses_backbone_mismatch(tmp_path, demo_dir, monkeypatch):
    pytest.importorskip("deepfeat.features._cnn")
    df = load_dataset(demo_dir).iloc[:30]
    det = _fast(feature_groups=("cnn",), n_estimators=5, early_stopping_rounds=None).fit(df)
    path = det.save(tmp_path / "m")
    card = json.loads((path / "card.json").read_text())
    assert card["backbone_sha256"]
    card["extractor"]["backbone_sha256"] = "0" * 64
    (path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match="backbone"):
        DeepfakeDetector.load(path)


def test_load_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        DeepfakeDetector.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="missing"):
        DeepfakeDetector.load(tmp_path / "empty")


# ------------------------------------------------------------------ estimator contract


def test_common_estimator_contract():
    X, y, g = _table()
    det = _fast()
    assert clone(det).get_params() == det.get_params()
    det.set_params(max_depth=3)
    assert det.max_depth == 3
    with pytest.raises(NotFittedError):
        det.predict(X)
    det.fit(X, y, groups=g)
    again = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(again.predict_proba(X), det.predict_proba(X))
    twin = _fast(max_depth=3).fit(X, y, groups=g)
    np.testing.assert_array_equal(twin.predict_proba(X), det.predict_proba(X))
    assert list(det.feature_names_in_) == list(X.columns)
    assert list(clone(det).get_params()) == list(det.get_params())
    assert not hasattr(clone(det), "model_")


def test_bad_inputs_are_clear():
    X, y, g = _table()
    with pytest.raises(ValueError, match="0 \\(real\\) and 1 \\(fake\\)"):
        _fast().fit(X, y + 1)
    with pytest.raises(ValueError, match="one class"):
        _fast().fit(X, np.ones(len(y), int))
    with pytest.raises(ValueError, match="calibration"):
        _fast(calibration="platt").fit(X, y)
    det = _fast().fit(X, y, groups=g)
    with pytest.raises(ValueError, match="lacks"):
        det.predict_proba(X.drop(columns="cnn_0000"))


def test_pipeline_and_grid_search_with_groups():
    X, y, g = _table()
    pipe = make_pipeline(FunctionTransformer(lambda d: d, feature_names_out="one-to-one"), _fast())
    pipe.fit(X, y)
    assert pipe.predict_proba(X).shape == (len(X), 2)
    search = GridSearchCV(
        _fast(early_stopping_rounds=None, n_estimators=20),
        {"max_depth": [2, 3]},
        cv=GroupKFold(n_splits=3),
        scoring="roc_auc",
    )
    search.fit(X, y, groups=g)
    assert search.best_score_ > 0.7


#: sklearn checks that train on labels other than 0/1 or real/fake (e.g. {1, 2} or
#: {"one", "two"}): the detector refuses them on purpose (issue 18), so column 1 of
#: predict_proba is always P(fake).
_LABEL_CHECKS = {
    name: "labels must be 0/1 or real/fake; other labels are refused on purpose"
    for name in (
        "check_estimators_dtypes",
        "check_classifier_data_not_an_array",
        "check_classifiers_classes",
        "check_fit2d_1feature",
    )
}


@pytest.mark.slow
@parametrize_with_checks(
    [DeepfakeDetector(n_estimators=10, audit=False)],
    expected_failed_checks=lambda est: _LABEL_CHECKS,
)
def test_sklearn_checks_on_numeric_tables(estimator, check):
    """On a plain numeric table the detector is an ordinary sklearn binary classifier."""
    check(estimator)


@pytest.mark.parametrize(
    "labels", [["REAL", "FAKE"], ["real", "fake"], [" Real", "Fake "], ["0", "1"], [0.0, 1.0]]
)
def test_label_names_map_to_0_real_1_fake(labels):
    """String labels never sort into classes_: column 1 of predict_proba is P(fake)."""
    X, y, g = _table()
    named = np.where(y == 1, labels[1], labels[0])
    det = _fast().fit(X.to_numpy(), named, groups=g)
    ref = _fast().fit(X.to_numpy(), y, groups=g)
    assert det.classes_.tolist() == [0, 1]
    np.testing.assert_allclose(det.predict_proba(X.to_numpy()), ref.predict_proba(X.to_numpy()))
    assert set(det.predict(X.to_numpy()).tolist()) <= {0, 1}


@pytest.mark.parametrize("labels", [["yes", "no"], [1, 2], ["real", "deepfake"], [-1, 1]])
def test_other_labels_are_a_clear_error(labels):
    X, y, g = _table()
    with pytest.raises(ValueError, match="0 \\(real\\) and 1 \\(fake\\)"):
        _fast().fit(X.to_numpy(), np.where(y == 1, labels[1], labels[0]), groups=g)


def _dense_linear_table(n=400, d=300, seed=0):
    """Many weak, dense embedding columns: a linear signal that trees find hard."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.7).astype(int)
    groups = np.repeat(np.arange(n // 2), 2)
    cnn = rng.normal(size=(n, d)) + 0.12 * y[:, None]
    X = pd.DataFrame(cnn, columns=[f"cnn_{i:04d}" for i in range(d)])
    X["fft_000"] = rng.normal(size=n)
    return X, y, groups


def test_linear_probe_stacks_an_out_of_fold_score(tmp_path):
    X, y, g = _dense_linear_table()
    train, test = next(grouped_splits(y, g, n_splits=4))
    plain = _fast(n_estimators=200).fit(X.iloc[train], y[train], groups=g[train])
    probe = _fast(n_estimators=200, linear_probe=True).fit(X.iloc[train], y[train], groups=g[train])
    assert list(probe.model_columns_) == ["fft_000", "cnn_probe"]
    assert probe.group_importances_.index[0] == "cnn"
    auc_plain = evaluate(plain, X.iloc[test], y[test])["roc_auc"]
    auc_probe = evaluate(probe, X.iloc[test], y[test])["roc_auc"]
    assert auc_probe > auc_plain + 0.05
    ex = probe.explain(X.iloc[test[:3]])
    assert ex["top_features"][0][0][0] in ("cnn_probe", "fft_000")
    loaded = DeepfakeDetector.load(probe.save(tmp_path / "m"))
    np.testing.assert_allclose(
        loaded.predict_proba(X.iloc[test]), probe.predict_proba(X.iloc[test]), rtol=1e-6
    )
    keep = _fast(n_estimators=20, linear_probe=True, probe_keep_columns=True).fit(X, y, groups=g)
    assert len(keep.model_columns_) == X.shape[1] + 1


def _with_sidecar(demo_dir):
    """The demo set with a numeric sidecar column (as DFDC's original_width)."""
    df = load_dataset(demo_dir)
    rng = np.random.default_rng(1)
    return df.assign(width_px=rng.integers(200, 1900, len(df)).astype(float))


def test_default_model_uses_only_the_image_file(demo_dir, tmp_path):
    """Sidecar columns of the dataset table are never features unless asked for."""
    df = _with_sidecar(demo_dir)
    det = _fast(feature_groups=("fft", "meta"), n_estimators=10).fit(df)
    assert not [c for c in det.columns_ if c.startswith("meta_sidecar_")]
    assert det.sidecar_columns_ == []
    # the same scores from the table and from the bare files
    np.testing.assert_array_equal(det.predict_proba(df), det.predict_proba(list(df["path"])))
    card = json.loads((det.save(tmp_path / "m") / "card.json").read_text())
    assert card["sidecar_columns"] == []


def test_sidecar_is_opt_in_recorded_and_required(demo_dir, tmp_path):
    from deepfeat.features._meta import MissingSidecarError

    df = _with_sidecar(demo_dir)
    det = _fast(feature_groups=("fft", "meta"), n_estimators=10, sidecar=["width_px"]).fit(df)
    assert "meta_sidecar_width_px" in det.columns_
    assert det.sidecar_columns_ == ["width_px"]
    path = det.save(tmp_path / "m")
    assert json.loads((path / "card.json").read_text())["sidecar_columns"] == ["width_px"]
    loaded = DeepfakeDetector.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(df), det.predict_proba(df))
    with pytest.raises(MissingSidecarError, match="width_px"):
        loaded.predict_proba(list(df["path"][:3]))  # never a silent NaN
    with pytest.raises(MissingSidecarError):
        loaded.predict_proba(df.drop(columns="width_px"))
    loaded.set_params(allow_missing_sidecar=True)
    assert np.isfinite(loaded.predict_proba(list(df["path"][:3]))).all()
    with pytest.raises(ValueError, match="meta"):
        _fast(feature_groups=("fft",), sidecar=["width_px"]).fit(df)


def test_sidecar_from_a_feature_table(demo_dir):
    """A table with meta_sidecar_* columns: used only when sidecar= names them."""
    df = _with_sidecar(demo_dir)
    ext = ImageFeatures(groups=("fft", "meta"), meta=MetadataFeatures(sidecar=["width_px"]))
    table = ext.fit(df).set_output(transform="pandas").transform(df)
    plain = _fast(n_estimators=10, features=ext).fit(table, df["label"], groups=df["group"])
    assert "meta_sidecar_width_px" not in plain.columns_
    assert plain.predict_proba(list(df["path"][:2])).shape == (2, 2)  # asks for no sidecar
    opted = _fast(n_estimators=10, features=ext, sidecar=["width_px"])
    opted.fit(table, df["label"], groups=df["group"])
    assert opted.sidecar_columns_ == ["width_px"]
    with pytest.raises(ValueError, match="no \\['meta_sidecar_other'\\]"):
        _fast(sidecar=["other"]).fit(table, df["label"])


@pytest.mark.realdata
def test_real_dfdc_sidecar_opt_in(tmp_path, dfdc_dir):
    """DFDC's original_width/height: out by default, in (and required) when asked for."""
    from deepfeat.cli import main

    df = load_dataset(dfdc_dir).iloc[:80]
    det = _fast(feature_groups=("fft", "meta"), n_estimators=10, early_stopping_rounds=None).fit(df)
    assert not any(c.startswith("meta_sidecar_") for c in det.columns_)
    side = ["original_width", "original_height"]
    det = _fast(feature_groups=("meta",), n_estimators=10, early_stopping_rounds=None, sidecar=side)
    det.fit(df)
    assert {"meta_sidecar_original_width", "meta_sidecar_original_height"} <= set(det.columns_)
    loaded = DeepfakeDetector.load(det.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_proba(df), det.predict_proba(df))
    manifest = tmp_path / "m.csv"
    df.to_csv(manifest, index=False)
    feats = tmp_path / "f.parquet"
    args = ["extract", str(manifest), "--out", str(feats), "--groups", "fft,meta", "-q"]
    assert main([*args, "--sidecar", "original_width"]) == 0
    out = tmp_path / "m2"
    assert main(["train", str(feats), "--out", str(out), "--sidecar", "original_width", "-q"]) == 0
    assert json.loads((out / "card.json").read_text())["sidecar_columns"] == ["original_width"]


def test_fit_logs_every_stage_and_shows_progress_only_when_asked(caplog, capsys):
    X, y, g = _table(600)
    with caplog.at_level("INFO", logger="deepfeat.detector"):
        det = _fast(audit=True).fit(X, y, groups=g)
    text = caplog.text
    for stage in ("features: ", "early stopping: ", "calibration: sigmoid", "refit: "):
        assert stage in text, stage
    stages = det.training_summary_["stages"]
    assert stages[-2].startswith("leakage audit: ")
    assert stages[-1].startswith("out-of-domain warning: ")
    assert "train" not in capsys.readouterr().err  # progress=False: silent
    _fast(progress=True).fit(X, y, groups=g)
    assert "stage" in capsys.readouterr().err


def test_explain_gives_a_failed_input_no_contributions(demo_dir, tmp_path):
    df = load_dataset(demo_dir)
    det = _fast(feature_groups=("fft", "meta"), n_estimators=10).fit(df)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    ex = det.explain([str(bad), df["path"].iloc[0]])
    contrib = [c for c in ex.columns if c.startswith("contrib_")]
    assert ex.loc[0, ["proba", "margin", *contrib]].isna().all()
    assert ex.loc[0, "top_features"] == []
    assert ex.loc[1, ["proba", *contrib]].notna().all() and ex.loc[1, "top_features"]
    assert det.extraction_failures_["path"].tolist() == [str(bad)]


# ---------------------------------------------------------------------- hostile model files
@pytest.fixture(scope="module")
def cnn_model(tmp_path_factory, demo_dir):
    """A small saved CNN detector (bundled backbone), copied by the tests that tamper."""
    df = load_dataset(demo_dir).iloc[:30]
    det = _fast(feature_groups=("cnn",), n_estimators=5, early_stopping_rounds=None).fit(df)
    return det.save(tmp_path_factory.mktemp("cnn") / "m")


def _edit_card(src, dst, change):
    shutil.copytree(src, dst)
    card = json.loads((dst / "card.json").read_text())
    change(card)
    (dst / "card.json").write_text(json.dumps(card))
    return dst


def test_load_requires_a_recorded_backbone_hash(tmp_path, cnn_model):
    """A null or missing backbone_sha256 used to skip the backbone check."""

    def null(card):
        card["extractor"]["backbone_sha256"] = None

    def missing(card):
        del card["extractor"]["backbone_sha256"]

    for change in (null, missing):
        bad = _edit_card(cnn_model, tmp_path / change.__name__, change)
        with pytest.raises(ModelFileError, match="records no backbone sha256"):
            DeepfakeDetector.load(bad)
        assert DeepfakeDetector.load(bad, trust_backbone=True).features_ is not None


def test_load_refuses_a_backbone_outside_the_model_folder(tmp_path, cnn_model):
    """cnn.params.model used to name any file on disk, which onnxruntime then opened."""
    from deepfeat.features._backbone import backbone_path

    elsewhere = tmp_path / "elsewhere.onnx"
    shutil.copyfile(backbone_path(), elsewhere)

    def external(card):
        card["extractor"]["transformers"]["cnn"]["params"].update(
            model=str(elsewhere), mean=127.0, std=128.0, output_name="s1_mean", layers="mid"
        )

    bad = _edit_card(cnn_model, tmp_path / "ext", external)
    with pytest.raises(ModelFileError, match="outside the model folder"):
        DeepfakeDetector.load(bad)
    threads = _edit_card(
        cnn_model,
        tmp_path / "threads",
        lambda c: c["extractor"]["transformers"]["cnn"]["params"].update(n_threads=10**9),
    )
    with pytest.raises(ModelFileError, match="n_threads"):
        DeepfakeDetector.load(threads)  # a card cannot ask for a billion threads
    for name in ("../../../../etc/passwd", "/dev/zero", "backbone.onnx"):
        odd = _edit_card(
            cnn_model,
            tmp_path / f"odd{len(name)}",
            lambda c, n=name: c["extractor"]["transformers"]["cnn"]["params"].update(model=n),
        )
        with pytest.raises(ModelFileError):
            DeepfakeDetector.load(odd)


def test_user_backbone_is_saved_in_the_model_folder_and_checked(tmp_path, demo_dir):
    from deepfeat import CNNEmbedder
    from deepfeat.features._backbone import backbone_path

    onnx = tmp_path / "mine.onnx"
    shutil.copyfile(backbone_path(), onnx)
    cnn = CNNEmbedder(model=onnx, mean=127.0, std=128.0, output_name="s1_mean")
    df = load_dataset(demo_dir).iloc[:30]
    det = _fast(
        feature_groups=("cnn",),
        features=ImageFeatures(groups=("cnn",), cnn=cnn),
        n_estimators=5,
        early_stopping_rounds=None,
    ).fit(df)
    path = det.save(tmp_path / "m")
    assert sorted(p.name for p in path.iterdir()) == ["backbone.onnx", "card.json", "model.ubj"]
    expected = det.predict_proba(df.path[:4])
    onnx.unlink()  # the model folder is self-contained
    loaded = DeepfakeDetector.load(path)
    np.testing.assert_allclose(loaded.predict_proba(df.path[:4]), expected)
    with open(path / "backbone.onnx", "ab") as fh:
        fh.write(b"\0")  # tampered
    with pytest.raises(ModelFileError, match="backbone sha256"):
        DeepfakeDetector.load(path)


def _plain_model(tmp_path):
    X, y, g = _table()
    return (
        _fast(n_estimators=5, early_stopping_rounds=None)
        .fit(X, y, groups=g)
        .save(tmp_path / "plain")
    )


def _with_model_bytes(src, dst, raw):
    import hashlib

    shutil.copytree(src, dst)
    (dst / "model.ubj").write_bytes(raw)
    card = json.loads((dst / "card.json").read_text())
    card["model_sha256"] = hashlib.sha256(raw).hexdigest()
    (dst / "card.json").write_text(json.dumps(card))
    return dst


def test_malformed_model_files_raise_model_file_error(tmp_path):
    """A 0-byte model.ubj with a matching sha256 used to abort the interpreter; a 200k-deep
    card raised RecursionError; params.groups = 5 a TypeError."""
    good = _plain_model(tmp_path)
    raw = (good / "model.ubj").read_bytes()
    for i, data in enumerate([b"", b"{}", raw[: len(raw) // 2], raw[:100] + raw[150:]]):
        bad = _with_model_bytes(good, tmp_path / f"ubj{i}", data)
        with pytest.raises(ModelFileError, match="not a valid XGBoost model") as info:
            DeepfakeDetector.load(bad)
        assert "\n" not in str(info.value)
    deep = tmp_path / "deep"
    shutil.copytree(good, deep)
    (deep / "card.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ModelFileError, match=r"card\.json"):
        DeepfakeDetector.load(deep)
    cases = {
        "params.groups": lambda c: c["params"].update(groups=5),
        "threshold": lambda c: c.update(threshold="high"),
        "feature_names": lambda c: c.update(feature_names=[1, 2]),
        "model_columns": lambda c: c.update(model_columns=["nope"]),
        "calibration": lambda c: c.update(calibration={"kind": "isotonic", "x": [0.5, 0.1]}),
        "n_estimators": lambda c: c["params"].update(n_estimators=-1),
        "leakage_warnings": lambda c: c.update(leakage_warnings={"a": 1}),
        "nested deeper": lambda c: c.update(training={"a": json.loads("[" * 40 + "]" * 40)}),
    }
    for words, change in cases.items():
        bad = _edit_card(good, tmp_path / f"card_{words.replace(' ', '_')}", change)
        with pytest.raises(ModelFileError, match=words) as info:
            DeepfakeDetector.load(bad)
        assert "\n" not in str(info.value)


@pytest.mark.timeout(30)
def test_size_limits_are_checked_before_reading(tmp_path):
    """A 1 GiB card, or a 1 MB zip holding one, used to take 2.3 GB of RAM before refusing."""
    import os
    import tracemalloc

    good = _plain_model(tmp_path)
    huge = tmp_path / "huge"
    shutil.copytree(good, huge)
    with open(huge / "card.json", "wb") as fh:
        fh.truncate(1 << 30)  # sparse: no disk, no RAM
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.ubj", (good / "model.ubj").read_bytes())
        with zf.open("card.json", "w", force_zip64=True) as member:
            for _ in range(64):
                member.write(bytes(1 << 20))  # 64 MiB of zeros, a few hundred KiB zipped
    assert bomb.stat().st_size < 1 << 20
    for target in (huge, bomb):
        tracemalloc.start()
        with pytest.raises(ModelFileError, match="limit"):
            DeepfakeDetector.load(target)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 40 << 20, f"{target.name}: {peak >> 20} MiB allocated"
    fifo_dir = tmp_path / "fifo"
    shutil.copytree(good, fifo_dir)
    (fifo_dir / "card.json").unlink()
    os.mkfifo(fifo_dir / "card.json")  # used to hang model loading
    with pytest.raises(ModelFileError, match="FIFO"):
        DeepfakeDetector.load(fifo_dir)


def test_feature_table_problems_are_clear_errors():
    X, y, g = _table()
    det = _fast(n_estimators=5, early_stopping_rounds=None).fit(X, y, groups=g)
    inf = X.copy()
    inf.iloc[3, 1] = np.inf  # used to end in a C++ stack trace
    for call in (lambda: _fast().fit(inf, y), lambda: det.predict_proba(inf)):
        with pytest.raises(ValueError, match=r"infinite .*cnn_0001"):
            call()
    dup = pd.concat([X, X[["fft_000"]]], axis=1)  # used to train silently
    for call in (lambda: _fast().fit(dup, y), lambda: det.predict_proba(dup)):
        with pytest.raises(ValueError, match=r"duplicated column names .*fft_000"):
            call()
    nan = X.copy()
    nan.loc[:, :] = np.nan  # used to give sklearn's "0 sample(s)" message
    with pytest.raises(ValueError, match="none of the 240 samples has any feature"):
        _fast().fit(nan, y)
    one_class = X.copy()
    one_class.loc[y == 0, :] = np.nan
    with pytest.raises(ValueError, match="only one class is left"):
        _fast().fit(one_class, y)


@pytest.mark.timeout(120)
def test_extraction_failures_are_per_thread(tmp_path, demo_dir):
    """extraction_failures_ set in predict_proba used to be visible to other threads."""
    import threading

    df = load_dataset(demo_dir)
    det = _fast(feature_groups=("fft",), n_estimators=5, early_stopping_rounds=None).fit(df)
    n_threads = 8
    inputs = []
    for t in range(n_threads):
        bad = tmp_path / f"bad{t}.jpg"
        bad.write_bytes(b"not an image %d" % t)
        inputs.append([*df.path[t : t + 2], str(bad)] + [str(bad)] * (t % 3))
    barrier = threading.Barrier(n_threads)
    seen: dict[int, list[str]] = {}

    def work(t):
        det.predict_proba(inputs[t])
        barrier.wait()  # every thread has predicted before anyone looks
        seen[t] = list(det.extraction_failures_["path"])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(n_threads):
        assert seen[t] == [str(tmp_path / f"bad{t}.jpg")] * (1 + t % 3)
    table = det.extract(inputs[0])
    assert list(table.attrs["failures"]["path"]) == [str(tmp_path / "bad0.jpg")]


def test_old_groups_name_still_works_with_a_future_warning(tmp_path):
    """``groups=`` (feature groups) was renamed ``feature_groups=``; the old name warns."""
    X, y, g = _table()
    with pytest.warns(FutureWarning, match="feature_groups"):
        old = _fast(groups=("fft",)).fit(X, y, groups=g)
    new = _fast(feature_groups=("fft",)).fit(X, y, groups=g)
    assert list(old.columns_) == list(new.columns_)
    np.testing.assert_array_equal(old.predict_proba(X), new.predict_proba(X))
    # a card written before the rename (params.groups) loads as feature_groups
    path = new.save(tmp_path / "m")
    card = json.loads((path / "card.json").read_text())
    assert "groups" not in card["params"] and card["params"]["feature_groups"] == ["fft"]
    card["params"]["groups"] = card["params"].pop("feature_groups")
    (path / "card.json").write_text(json.dumps(card))
    loaded = DeepfakeDetector.load(path)
    assert loaded.feature_groups == ("fft",) and loaded.groups == "deprecated"
    np.testing.assert_array_equal(loaded.predict_proba(X), new.predict_proba(X))


def test_parameters_are_checked_once_in_fit_by_their_constraints():
    X, y, g = _table()
    for bad in (
        {"validation_fraction": 0.7},
        {"n_estimators": 0},
        {"threshold": 2.0},
        {"feature_groups": ("fft", "pixels")},
        {"scale_pos_weight": -1},
    ):
        det = _fast(**bad)  # __init__ only stores
        with pytest.raises(ValueError, match=next(iter(bad))):
            det.fit(X, y, groups=g)
