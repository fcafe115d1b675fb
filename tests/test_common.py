"""Checks every deepfeat estimator must pass (sklearn's check_estimator skips path inputs)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from deepfeat import (
    CNNEmbedder,
    DeepfakeDetector,
    FFTSpectrum,
    ForensicResiduals,
    ImageFeatures,
    MetadataFeatures,
    load_dataset,
)

TRANSFORMERS = [
    CNNEmbedder(batch_size=4),
    FFTSpectrum(),
    ForensicResiduals(),
    MetadataFeatures(),
    ImageFeatures(groups=("fft", "meta")),
    ImageFeatures(groups=("forensic",)),
]
ALL = [*TRANSFORMERS, DeepfakeDetector(n_estimators=10)]


def _id(est):
    return type(est).__name__


@pytest.fixture(scope="module")
def data(demo_dir):
    return load_dataset(demo_dir).iloc[:8].reset_index(drop=True)


@pytest.mark.parametrize("est", ALL, ids=_id)
def test_sklearn_parameter_conventions(est):
    name = type(est).__name__
    check_no_attributes_set_in_init(name, clone(est))
    check_parameters_default_constructible(name, clone(est))
    check_get_params_invariance(name, clone(est))
    check_set_params(name, clone(est))
    assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize("est", TRANSFORMERS, ids=_id)
def test_transformer_contract(est, data):
    base = est
    est = clone(base).set_output(transform="pandas")
    table = est.fit_transform(data)
    names = list(est.get_feature_names_out())
    assert list(table.columns) == names, "feature names must equal the output columns"
    assert all(n == n.lower() and "__" not in n for n in names)
    assert table.shape == (len(data), len(names))
    assert (table.dtypes == np.float32).all()
    # deterministic
    again = clone(est).set_output(transform="pandas").fit_transform(data)
    np.testing.assert_array_equal(table.to_numpy(), again.to_numpy())
    # picklable after use (sessions and caches are not pickled), same output after loading
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.transform(data).to_numpy(), table.to_numpy())
    # default output is a float32 array
    plain = clone(base).fit(data).transform(data)
    assert isinstance(plain, np.ndarray) and plain.dtype == np.float32


@pytest.mark.parametrize("est", TRANSFORMERS, ids=_id)
def test_transformer_on_error_policy(est, data, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    est = clone(est).set_params(on_error="record").fit(data)
    out = est.transform([data["path"][0], str(bad)])
    assert np.isnan(out[1]).all() and not np.isnan(out[0]).all()
    assert est.failures_["path"].tolist() == [str(bad)]
    with pytest.raises(ValueError):
        clone(est).set_params(on_error="raise").fit(data).transform([str(bad)])
    with pytest.raises(ValueError):
        clone(est).set_params(on_error="ignore").fit(data)
