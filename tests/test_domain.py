"""The out-of-domain warning: DomainModel, fit_domain, the detector's API, card and CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from deepfeat import DeepfakeDetector
from deepfeat.detector import ModelFileError
from deepfeat.detector._domain import DomainModel, fit_domain

COLS = [f"fft_{i:03d}" for i in range(8)]


def _gaussian(n=600, seed=0, d=8):
    rng = np.random.default_rng(seed)
    cov = np.eye(d) + 0.5  # correlated columns, like real features
    return rng.multivariate_normal(np.zeros(d), cov, size=n)


def test_held_out_rows_like_training_are_flagged_at_about_fpr():
    X = _gaussian(2000)
    dom, held = fit_domain(X[:1000], COLS, np.arange(1000), fpr=0.05)
    assert np.mean(held > 1) == pytest.approx(0.05, abs=0.01)
    fresh = dom.score(X[1000:])  # new draws of the same distribution
    assert 0.02 <= np.mean(fresh > 1) <= 0.09


def test_shifted_rows_and_new_directions_are_flagged():
    X = _gaussian(800)
    dom, _ = fit_domain(X, COLS, np.arange(800))
    shifted = _gaussian(200, seed=1) + 4.0  # far along the usual directions (T²)
    assert np.mean(dom.score(shifted) > 1) > 0.95
    against = _gaussian(200, seed=2)
    against[:, 0] += 4.0  # against the correlation of columns 0 and 1 (a low-variance
    against[:, 1] -= 4.0  # direction): 5.7 standard deviations
    assert np.mean(dom.score(against) > 1) > 0.95


def test_constant_training_column_and_missing_values_count():
    X = _gaussian(400)
    X[:, 3] = 224.0  # e.g. the image width: one value in training
    X[:, 5] = np.nan  # a feature never defined in training (no EXIF)
    dom, _ = fit_domain(X, COLS, np.arange(400))
    new = _gaussian(50, seed=3)
    new[:, 3], new[:, 5] = 224.0, np.nan
    base = dom.score(new)
    other_width = new.copy()
    other_width[:, 3] = 512.0
    has_exif = new.copy()
    has_exif[:, 5] = 1.0
    lost = new.copy()
    lost[:, 0] = np.nan  # a feature always defined in training is missing
    assert np.mean(base > 1) < 0.2
    for changed in (other_width, has_exif, lost):
        assert (dom.score(changed) > base).all()
        assert np.mean(dom.score(changed) > 1) == 1.0
    reasons = dom.deviations(other_width[:1])[0]
    assert reasons[0][0] == "fft_003" and reasons[0][1] > 0


def test_per_source_threshold_covers_each_source():
    compact = _gaussian(900, seed=4) * 0.3
    diverse = _gaussian(300, seed=5) * 1.5 + 0.5
    X = np.vstack([compact, diverse])
    source = np.array(["compact"] * 900 + ["diverse"] * 300)
    _, pooled = fit_domain(X, COLS, np.arange(1200), fpr=0.05)
    _, per_source = fit_domain(X, COLS, np.arange(1200), fpr=0.05, source=source)
    assert np.mean(pooled[source == "diverse"] > 1) > 0.1  # pooled: one source pays
    for name in ("compact", "diverse"):
        assert np.mean(per_source[source == name] > 1) <= 0.05 + 1e-9


def test_groups_stay_on_one_side_of_the_threshold_folds():
    """Near-duplicate rows of one group must not vouch for each other."""
    rng = np.random.default_rng(0)
    centres = _gaussian(100, seed=6) * 3
    X = np.repeat(centres, 10, axis=0) + rng.normal(0, 0.01, (1000, 8))
    groups = np.repeat(np.arange(100), 10)
    _, by_group = fit_domain(X, COLS, groups, fpr=0.05)
    dom_rows, _ = fit_domain(X, COLS, np.arange(1000), fpr=0.05)
    dom_groups, _ = fit_domain(X, COLS, groups, fpr=0.05)
    # Row-wise folds see each row's twins in training: a threshold too tight for new groups.
    new_groups = _gaussian(300, seed=7) * 3
    assert np.mean(dom_rows.score(new_groups) > 1) > np.mean(dom_groups.score(new_groups) > 1)
    assert np.mean(by_group > 1) == pytest.approx(0.05, abs=0.011)


def test_json_round_trip_and_bad_state():
    X = _gaussian(300)
    dom, _ = fit_domain(X, COLS, np.arange(300))
    state = json.loads(json.dumps(dom.to_json()))
    back = DomainModel.from_json(state)
    np.testing.assert_allclose(back.score(X[:20]), dom.score(X[:20]), rtol=1e-6)
    bad = dict(state, center=state["center"][:-1])
    with pytest.raises(ValueError, match="center"):
        DomainModel.from_json(bad)
    with pytest.raises(ValueError, match="positive"):
        DomainModel.from_json(dict(state, threshold=0.0))
    with pytest.raises(ValueError, match="expects 8 feature columns"):
        dom.score(X[:, :3])


def test_fit_domain_needs_two_groups():
    with pytest.raises(ValueError, match="2 groups"):
        fit_domain(_gaussian(20), COLS, np.zeros(20))


# ----------------------------------------------------------------------------- detector
def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.6).astype(int)
    X = pd.DataFrame(
        {c: rng.normal(size=n) + (0.8 * y if i < 2 else 0) for i, c in enumerate(COLS)}
    )
    X["meta_width"] = 224.0
    return X, y, np.repeat(np.arange(n // 3), 3)[:n]


def _fast(**kw):
    params = {"n_estimators": 40, "audit": False, "random_state": 0, "linear_probe": False}
    return DeepfakeDetector(**{**params, **kw})


def test_detector_domain_api_explain_and_save_load(tmp_path):
    X, y, g = _data()
    det = _fast().fit(X, y, groups=g)
    assert det.domain_ is not None
    assert any("out-of-domain warning" in s for s in det.training_summary_["stages"])
    X_new, _, _ = _data(200, seed=1)
    far = X_new.copy()
    far["meta_width"] = 512.0
    assert np.mean(det.in_domain(X_new)) > 0.85
    assert not det.in_domain(far).any()
    ex = det.explain(pd.concat([X_new.iloc[:3], far.iloc[:2]], ignore_index=True))
    assert ex["in_domain"].tolist()[3:] == [False, False]
    assert ex.loc[3, "domain_reasons"][0][0] == "meta_width"
    assert ex.loc[0, "domain_reasons"] == [] or not ex.loc[0, "in_domain"]
    path = det.save(tmp_path / "m")
    back = DeepfakeDetector.load(path)
    np.testing.assert_allclose(back.domain_score(far), det.domain_score(far), rtol=1e-6)
    card = json.loads((path / "card.json").read_text())
    assert card["domain"]["fpr"] == 0.05 and card["params"]["domain_fpr"] == 0.05


def test_rows_without_features_get_nan_domain_score():
    X, y, g = _data()
    det = _fast().fit(X, y, groups=g)
    empty = X.iloc[:2].copy()
    empty.loc[:, :] = np.nan
    assert np.isnan(det.domain_score(empty)).all()
    assert not det.in_domain(empty).any()
    assert det.explain(empty)["in_domain"].isna().all()


def test_no_domain_model_and_old_cards(tmp_path):
    X, y, g = _data()
    det = _fast(domain_fpr=None).fit(X, y, groups=g)
    assert det.domain_ is None
    with pytest.raises(ValueError, match="no out-of-domain model"):
        det.domain_score(X)
    ex = det.explain(X.iloc[:2])
    assert ex["domain_score"].isna().all() and ex["in_domain"].isna().all()
    # A card written before the domain model existed loads, without one.
    path = _fast().fit(X, y, groups=g).save(tmp_path / "m")
    card = json.loads((path / "card.json").read_text())
    for key in ("domain", "source_audit", "source_warnings"):
        card.pop(key)
    card["params"].pop("domain_fpr")
    (path / "card.json").write_text(json.dumps(card))
    old = DeepfakeDetector.load(path)
    assert old.domain_ is None and old.source_report_ is None
    assert np.isfinite(old.predict_proba(X)[:, 1]).all()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.update(columns=d["columns"][:-1]), "domain"),
        (lambda d: d.update(scale=[0.0] * len(d["scale"])), "domain.scale"),
        (lambda d: d.update(components=[[1.0]]), "components"),
        (lambda d: d.update(threshold=-1), "domain.threshold"),
        (lambda d: d.update(method="pickle"), "domain.method"),
    ],
)
def test_tampered_domain_in_card_is_refused(tmp_path, change, words):
    X, y, g = _data()
    path = _fast().fit(X, y, groups=g).save(tmp_path / "m")
    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    card = json.loads((bad / "card.json").read_text())
    change(card["domain"])
    (bad / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match=words):
        DeepfakeDetector.load(bad)


def test_source_audit_in_fit_flags_a_source_shortcut(tmp_path):
    """Fakes from one source only: the score tells the sources' reals apart."""
    rng = np.random.default_rng(0)
    n = 800
    source = np.where(np.arange(n) < n // 2, "alpha", "beta")
    y = np.where(source == "beta", rng.random(n) < 0.6, rng.random(n) < 0.1).astype(int)
    X = pd.DataFrame({c: rng.normal(size=n) for c in COLS})
    X["meta_width"] = np.where(source == "beta", 256.0, 224.0)  # the source shows
    X["source"] = source
    det = _fast().fit(X, y, groups=np.arange(n))
    rep = det.source_report_
    assert rep[["source_a", "source_b"]].values.tolist() == [["alpha", "beta"]]
    assert rep.loc[0, "auc_score"] > 0.75 and rep.loc[0, "auc_features"] > 0.95
    assert det.source_warnings_ and "learned something about the sources" in det.source_warnings_[0]
    assert any(s.startswith("source audit") for s in det.training_summary_["stages"])
    assert det.training_summary_["sources"] == ["alpha", "beta"]
    back = DeepfakeDetector.load(det.save(tmp_path / "m"))
    assert back.source_warnings_ == det.source_warnings_
    assert back.source_report_.loc[0, "auc_score"] == pytest.approx(rep.loc[0, "auc_score"])


def test_source_audit_quiet_when_sources_share_the_fakes():
    rng = np.random.default_rng(1)
    n = 400
    source = np.where(np.arange(n) % 2 == 0, "alpha", "beta")
    y = (rng.random(n) < 0.5).astype(int)
    X = pd.DataFrame({c: rng.normal(size=n) + (y if i == 0 else 0) for i, c in enumerate(COLS)})
    det = _fast().fit(X, y, groups=np.arange(n), source=source)
    assert not det.source_warnings_
    assert 0.25 < det.source_report_.loc[0, "auc_score"] < 0.75
