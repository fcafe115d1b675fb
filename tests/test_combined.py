"""ImageFeatures: one decode per image, fixed column order, failures table, parallel == serial."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepfeat import ImageFeatures, ImageLoadError, MetadataFeatures, load_dataset
from deepfeat._schema import DEFAULT_GROUPS, GROUPS, feature_group


@pytest.fixture(scope="module")
def small(demo_dir):
    return load_dataset(demo_dir).iloc[:16].reset_index(drop=True)


def test_default_groups_leave_forensic_out():
    assert ImageFeatures().groups == DEFAULT_GROUPS == ("cnn", "fft", "meta")


def test_columns_are_named_ordered_and_unique(small):
    feats = ImageFeatures(groups=GROUPS[::-1]).set_output(transform="pandas")
    table = feats.fit_transform(small)
    names = list(feats.get_feature_names_out())
    assert list(table.columns) == names
    assert len(set(names)) == len(names)
    groups = [feature_group(n) for n in names]
    assert groups == sorted(groups, key=GROUPS.index)  # cnn, fft, forensic, then meta
    assert set(groups) == set(GROUPS)
    assert all(n == n.lower() and "__" not in n for n in names)
    assert table.dtypes.unique().tolist() == [np.float32]
    assert table.shape == (16, len(names))


def test_any_subset_of_groups(small):
    for groups in (("fft",), ("meta",), ("fft", "meta"), ("meta", "fft")):
        t = ImageFeatures(groups=groups).fit(small)
        assert {feature_group(n) for n in t.get_feature_names_out()} == set(groups)
    with pytest.raises(ValueError, match="subset"):
        ImageFeatures(groups=("cnn", "pixels")).fit()


def test_groups_equal_their_standalone_transformers(small):
    from deepfeat import CNNEmbedder, FFTSpectrum

    combined = ImageFeatures(groups=("cnn", "fft")).fit(small)
    both = combined.transform(small)
    cnn = CNNEmbedder().fit().transform(small)
    fft = FFTSpectrum(local=True).fit().transform(small)  # the default fft group
    np.testing.assert_allclose(both[:, : cnn.shape[1]], cnn, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(both[:, cnn.shape[1] :], fft)


def test_each_image_is_decoded_once(small, monkeypatch):
    from deepfeat.features import _work

    calls = []
    real = _work.load_image

    def counting(path, **kw):
        calls.append(path)
        return real(path, **kw)

    monkeypatch.setattr(_work, "load_image", counting)
    ImageFeatures(groups=("cnn", "fft")).fit(small).transform(small)
    assert len(calls) == len(small)


def test_failures_are_recorded_not_raised(small, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    paths = [*small["path"][:3], str(bad), str(tmp_path / "missing.png")]
    feats = ImageFeatures(groups=("fft", "meta")).fit()
    out = feats.transform(paths)
    assert np.isfinite(out[:3]).any(axis=1).all()
    assert np.isnan(out[3:]).all()
    assert list(feats.failures_.columns) == ["path", "stage", "reason"]
    assert set(feats.failures_["path"]) == {str(bad), str(tmp_path / "missing.png")}
    with pytest.raises(ImageLoadError):
        ImageFeatures(groups=("fft",), on_error="raise").fit().transform(paths)


def test_parallel_equals_serial(small):
    serial = ImageFeatures(groups=("fft", "meta"), batch_size=5).fit(small).transform(small)
    parallel = (
        ImageFeatures(groups=("fft", "meta"), batch_size=5, n_jobs=2).fit(small).transform(small)
    )
    np.testing.assert_array_equal(serial, parallel)


def test_parallel_with_cnn_and_failures_equals_serial(small, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    paths = [*small["path"][:4], str(bad), *small["path"][4:9], str(tmp_path / "gone.png")]
    runs = {}
    for n_jobs in (1, 2):
        ext = ImageFeatures(batch_size=3, n_jobs=n_jobs).fit()
        runs[n_jobs] = (ext.transform(paths), ext.failures_)
    np.testing.assert_array_equal(runs[1][0], runs[2][0])
    pd.testing.assert_frame_equal(runs[1][1], runs[2][1])
    assert runs[1][1]["path"].tolist() == [str(bad), str(tmp_path / "gone.png")]


def test_blocks_do_not_depend_on_each_other(small):
    """iter_blocks: a block's values are the same alone or among others, in any order."""
    ext = ImageFeatures(batch_size=4, n_jobs=2).fit()
    paths = list(small["path"])
    blocks = [paths[:7], [], paths[7:9], paths[9:]]
    got = {b: v for b, v, _ in ext.iter_blocks(blocks, offsets=[0, 7, 7, 9])}
    assert sorted(got) == [0, 1, 2, 3] and got[1].shape == (0, ext.n_features_out_)
    for b, block in enumerate(blocks):
        if block:
            np.testing.assert_array_equal(got[b], ext.transform(block))


def test_worker_modules_do_not_import_sklearn_or_pandas():
    """Spawned extraction workers import only these modules: they must start fast."""
    from conftest import heavy_modules_after

    code = (
        "import deepfeat.features._work, deepfeat.features._fft_kernel, "
        "deepfeat.features._meta_kernel"
    )
    assert heavy_modules_after(code) == []


def test_arrays_and_progress(small, capsys):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (64, 80, 3), dtype=np.uint8) for _ in range(3)]
    feats = ImageFeatures(groups=("fft",), progress=True).fit()
    out = feats.transform(images)
    assert out.shape[0] == 3 and np.isfinite(out).any()
    assert "3/3" in capsys.readouterr().err


def test_sidecar_columns_from_a_dataset(dfdc_dir):
    df = load_dataset(dfdc_dir).iloc[:6]
    default = ImageFeatures(groups=("meta",)).fit(df, df["label"])
    assert not any("sidecar" in c for c in default.get_feature_names_out())  # opt-in only
    meta = MetadataFeatures(sidecar=["original_width"])
    feats = ImageFeatures(groups=("meta",), meta=meta).set_output(transform="pandas")
    table = feats.fit_transform(df, df["label"])
    assert "meta_sidecar_original_width" in table.columns
    np.testing.assert_array_equal(
        table["meta_sidecar_original_width"].to_numpy(), df["original_width"].to_numpy(np.float32)
    )
    assert not any(c == "original" or c.endswith("_original") for c in table.columns)


def test_unfitted_transform_raises(small):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ImageFeatures().transform(small)


def test_pandas_output_keeps_dataset_index(small):
    shifted = small.set_index(pd.Index(range(100, 116)))
    table = ImageFeatures(groups=("fft",)).set_output(transform="pandas").fit_transform(shifted)
    assert len(table) == 16


def test_groups_ahead_overlap_equals_the_default_schedule(small, tmp_path, monkeypatch):
    from deepfeat.features import _combined

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    paths = [*small["path"][:7], str(bad)]
    runs = {}
    for ahead in (False, True):
        monkeypatch.setattr(_combined, "GROUPS_AHEAD", ahead)
        ext = ImageFeatures(batch_size=3, n_jobs=1).fit()
        runs[ahead] = (ext.transform(paths), ext.failures_)
    np.testing.assert_array_equal(runs[False][0], runs[True][0])
    pd.testing.assert_frame_equal(runs[False][1], runs[True][1])
    assert runs[True][1]["path"].tolist() == [str(bad)]


def test_worker_pool_outlives_short_pauses():
    from deepfeat.features._work import WORKER_IDLE_TIMEOUT, worker_pool

    pool = worker_pool(2)
    assert WORKER_IDLE_TIMEOUT >= 60 and pool._timeout == WORKER_IDLE_TIMEOUT
    assert worker_pool(2) is pool  # one pool, reused
