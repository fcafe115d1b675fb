"""Forensic residual traces: every kernel on patterns with known answers, odd inputs, the
transformer at native resolution inside ImageFeatures, and the saved extractor."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfeat import ForensicResiduals, ImageFeatures, degrade, residual_traces
from deepfeat.features._forensic_kernel import FORENSIC_FEATURE_NAMES

NAMES = list(FORENSIC_FEATURE_NAMES)


def traces(image: np.ndarray, **kw) -> dict[str, float]:
    return dict(zip(NAMES, residual_traces(image, **kw).tolist()))


def _noise(shape=(256, 256, 3), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _textured(seed=1, side=256) -> np.ndarray:
    """Blurred noise plus fine noise: smooth content with a sensor-like residual."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(_noise((side, side, 3), seed), (0, 0), 1.5).astype(float)
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    return degrade(image, kinds="jpeg", jpeg_quality=(quality, quality))


def _up(image: np.ndarray, factor: int, interpolation: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (w * factor, h * factor), interpolation=interpolation)


# ----------------------------------------------------------------- up-sampling phase relations
def test_unresampled_noise_has_no_phase_relation():
    v = traces(_noise())
    for name in ("npr2_h", "npr2_v", "npr4_h", "npr4_v", "jpeg_block_h", "jpeg_block_v"):
        assert abs(v[name]) < 0.05, name


@pytest.mark.parametrize(
    ("interpolation", "low"),
    [(cv2.INTER_NEAREST, 0.8), (cv2.INTER_LINEAR, 1.2), (cv2.INTER_CUBIC, 0.7)],
)
def test_upsampled_x2_has_a_period_2_relation_and_no_jpeg_or_x4_one(interpolation, low):
    v = traces(_up(_noise((128, 128, 3)), 2, interpolation))
    assert v["npr2_h"] > low and v["npr2_v"] > low
    for name in ("npr4_h", "npr4_v", "jpeg_block_h", "jpeg_block_v"):
        assert abs(v[name]) < 0.1, name  # up-sampling is not read as JPEG or a ×4 grid


def test_nearest_x4_reads_as_a_period_4_grid():
    v = traces(_up(_noise((64, 64, 3)), 4, cv2.INTER_NEAREST))
    assert v["npr4_h"] > 3 and v["npr4_v"] > 3
    assert abs(v["jpeg_block_h"]) < 0.1


def test_phase_relation_does_not_depend_on_the_grid_offset():
    up = _up(_noise((130, 130, 3)), 2, cv2.INTER_LINEAR)
    a, b = traces(up[:256, :256]), traces(up[1:257, 1:257])
    assert a["npr2_h"] == pytest.approx(b["npr2_h"], abs=0.05)
    assert a["npr2_v"] == pytest.approx(b["npr2_v"], abs=0.05)


def test_upsampling_trace_of_a_real_looking_image():
    img = _textured()
    up = _up(img[64:192, 64:192], 2, cv2.INTER_LINEAR)
    assert traces(up)["npr2_h"] > traces(img)["npr2_h"] + 0.5


# ----------------------------------------------------------------- JPEG grid
@pytest.mark.parametrize("quality", [50, 75, 90])
def test_jpeg_lands_in_the_jpeg_columns_not_the_generator_ones(quality):
    img = _textured()
    before, after = traces(img), traces(_jpeg(img, quality))
    assert after["jpeg_block_h"] > 0.3 and after["jpeg_block_v"] > 0.3
    assert abs(before["jpeg_block_h"]) < 0.1
    # the generator columns stay where they were
    assert after["peak_max"] < before["peak_max"] + 0.15
    assert after["npr4_h"] < 0.1 and after["npr4_v"] < 0.1
    assert after["npr2_h"] < 0.3 and after["npr2_v"] < 0.3


# ----------------------------------------------------------------- periodic residual peaks
def _striped(period: float, amplitude: float = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.arange(256)
    field = rng.normal(128, 20, (256, 256)) + amplitude * np.cos(2 * np.pi * x / period)
    return np.clip(field, 0, 255).astype(np.uint8)  # grey: exercises the H×W input too


@pytest.mark.parametrize("period", [3, 5, 7])
def test_a_periodic_pattern_peaks_at_its_period(period):
    v, plain = traces(_striped(period, 20)), traces(_striped(period, amplitude=0))
    assert v["peak_period"] == pytest.approx(period, rel=0.03)
    assert v["peak_max"] > plain["peak_max"] + 0.3
    assert max(abs(v["jpeg_peak8"]), abs(v["jpeg_peak4"]), abs(v["jpeg_peak2"])) < 0.15


@pytest.mark.parametrize(("period", "column"), [(4, "jpeg_peak4"), (2, "jpeg_peak2")])
def test_a_pattern_on_the_8_grid_lands_in_the_jpeg_columns(period, column):
    v = traces(_striped(period))
    assert v[column] > 0.3
    assert v["peak_max"] < 0.2  # not in the generator columns


# ----------------------------------------------------------------- texture contrast
def test_colour_residual_correlation_known_answers():
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.normal(128, 20, (256, 256, 1)), 3, axis=2)
    grey = np.clip(grey, 0, 255).astype(np.uint8)  # same noise in every channel
    colour = np.clip(rng.normal(128, 20, (256, 256, 3)), 0, 255).astype(np.uint8)
    g, c = traces(grey), traces(colour)
    assert g["tex_rich_rgbcorr"] > 0.99 and g["tex_poor_rgbcorr"] > 0.99
    assert abs(c["tex_rich_rgbcorr"]) < 0.05 and abs(c["tex_poor_rgbcorr"]) < 0.05


def test_texture_contrast_of_a_half_flat_image():
    rng = np.random.default_rng(0)
    img = np.empty((256, 256, 3))
    img[:, :128] = rng.normal(128, 30, (256, 128, 3))  # rich: strong white noise
    smooth = cv2.GaussianBlur(rng.normal(128, 30, (256, 128, 3)), (0, 0), 3)
    img[:, 128:] = smooth + rng.normal(0, 1, smooth.shape)  # poor: smooth, faint noise
    v = traces(np.clip(img, 0, 255).astype(np.uint8))
    assert v["tex_rich_level"] > 0 > v["tex_poor_level"]
    # white noise is all pixel-level residual; smooth content is mostly not
    assert v["tex_rich_rough"] > v["tex_poor_rough"]
    assert v["tex_contrast_rough"] == pytest.approx(v["tex_rich_rough"] - v["tex_poor_rough"])


# ----------------------------------------------------------------- odd inputs
@pytest.mark.parametrize(
    "shape",
    [(1, 1, 3), (1, 300, 3), (15, 17, 3), (17, 15), (33, 70, 3), (37, 53, 4), (97, 201, 3)],
)
def test_odd_sizes_never_crash_and_nan_where_undefined(shape):
    v = residual_traces(_noise(shape))
    assert v.shape == (len(NAMES),) and v.dtype == np.float32
    d = dict(zip(NAMES, v))
    if min(shape[:2]) < 16:
        assert np.isnan(v).all()
    else:
        assert np.isfinite([d["npr2_h"], d["npr2_v"], d["jpeg_block_h"]]).all()
    if min(shape[:2]) < 32:
        assert np.isnan([d["peak_max"], d["jpeg_peak8"]]).all()
    if (shape[0] // 32) * (shape[1] // 32) < 6:
        assert np.isnan([d[n] for n in NAMES if n.startswith("tex_")]).all()


def test_flat_image_is_nan_not_a_crash():
    assert np.isnan(residual_traces(np.full((128, 128, 3), 77, np.uint8))).all()


def test_grey_rgba_and_rgb_agree_and_runs_are_deterministic():
    rgb = _textured()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(residual_traces(rgba), residual_traces(rgb))
    np.testing.assert_array_equal(residual_traces(rgb), residual_traces(rgb.copy()))
    grey = rgb[..., 1]
    np.testing.assert_array_equal(residual_traces(grey), residual_traces(np.dstack([grey] * 3)))


def test_max_side_is_a_centred_native_crop():
    big = _up(_noise((300, 300, 3)), 2, cv2.INTER_NEAREST)  # 600 px
    np.testing.assert_array_equal(
        residual_traces(big, max_side=256), residual_traces(big[172:428, 172:428], max_side=None)
    )


# ----------------------------------------------------------------- transformer
def test_transformer_names_and_params():
    f = ForensicResiduals().fit()
    assert list(f.get_feature_names_out()) == [f"forensic_{n}" for n in NAMES]
    assert len(NAMES) == len(set(NAMES)) <= 40
    with pytest.raises(ValueError, match="max_side"):
        ForensicResiduals(max_side=8).fit()
    with pytest.raises(ValueError, match="max_side"):
        ForensicResiduals(max_side=True).fit()


def test_image_features_reads_forensic_at_native_resolution(tmp_path):
    big = _up(_textured(side=300), 2, cv2.INTER_LINEAR)  # 600 px, an up-sampling trace
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    ext = ImageFeatures(groups=("fft", "forensic"), canonical_size=256, n_jobs=1)
    table = ext.set_output(transform="pandas").fit_transform([str(path)])
    got = table[[c for c in table.columns if c.startswith("forensic_")]].to_numpy()[0]
    np.testing.assert_array_equal(got, residual_traces(big))  # 512 px centre, not shrunk
    shrunk = cv2.resize(big, (256, 256), interpolation=cv2.INTER_AREA)
    assert got[NAMES.index("npr2_h")] > residual_traces(shrunk)[NAMES.index("npr2_h")] + 0.5


def test_native_pixels_in_worker_and_decode_ahead_schedules(tmp_path):
    from deepfeat import CNNEmbedder

    paths = []
    for i in range(3):
        img = _up(_textured(seed=i, side=160 + 40 * i), 2, cv2.INTER_CUBIC)
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], img)
    want = np.vstack([residual_traces(cv2.imread(p)[..., ::-1]) for p in paths])
    cnn = CNNEmbedder(batch_size=2)
    for ext in (
        ImageFeatures(groups=("forensic", "meta"), n_jobs=2, batch_size=2),
        ImageFeatures(groups=("cnn", "forensic"), cnn=cnn, n_jobs=1, batch_size=2),
    ):
        table = ext.set_output(transform="pandas").fit_transform(paths)
        got = table[[c for c in table.columns if c.startswith("forensic_")]].to_numpy()
        np.testing.assert_array_equal(got, want)


def test_extractor_json_round_trip_and_cache_key(tmp_path):
    from deepfeat.features._cache import settings_digest
    from deepfeat.features._spec import extractor_from_json, extractor_to_json

    ext = ImageFeatures(groups=("fft", "forensic"), forensic=ForensicResiduals(max_side=256)).fit()
    data = extractor_to_json(ext)
    assert data["transformers"]["forensic"] == {
        "class": "ForensicResiduals",
        "params": {"max_side": 256, "on_error": "record"},
    }
    back = extractor_from_json(data, tmp_path / "card.json")
    assert back.transformers_["forensic"].max_side == 256
    assert settings_digest(back) == settings_digest(ext)
    off = ImageFeatures(groups=("fft",)).fit()
    assert settings_digest(off) != settings_digest(ext)


def test_detector_trains_saves_and_loads_with_forensic(tmp_path, demo_dir):
    from deepfeat import DeepfakeDetector, load_dataset

    df = load_dataset(demo_dir)
    det = DeepfakeDetector(feature_groups=("fft", "forensic"), n_estimators=20, audit=False)
    det.fit(df)
    assert any(n.startswith("forensic_") for n in det.feature_names_in_)
    loaded = DeepfakeDetector.load(det.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict_proba(df), det.predict_proba(df))


def test_transform_of_paths_records_failures(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    f = ForensicResiduals(on_error="record").fit()
    out = f.transform([str(bad)])
    assert np.isnan(out).all() and isinstance(f.failures_, pd.DataFrame)
    assert len(f.failures_) == 1


# ----------------------------------------------------------------- stability on real faces
@pytest.mark.realdata
def test_stability_under_jpeg_resave_and_resize(dfdc_dir, k140_dir):
    """A JPEG re-save at q90 moves every column little against how faces differ; a 0.9×
    resize erases the grid columns (block boundary, ×2 phase), as it erases real traces."""
    from deepfeat import load_dataset, load_image

    paths = [p for d in (dfdc_dir, k140_dir) for p in load_dataset(d)["path"].iloc[:30]]
    images = [load_image(p) for p in paths]
    base = np.vstack([residual_traces(im) for im in images]).astype(float)
    spread = np.nanstd(base, axis=0)

    def ratio(**kw) -> dict[str, float]:
        moved = np.vstack([residual_traces(degrade(im, **kw)) for im in images])
        return dict(zip(NAMES, np.nanmedian(np.abs(moved - base), axis=0) / spread))

    jpeg = ratio(kinds="jpeg", jpeg_quality=(90, 90))
    assert max(jpeg.values()) < 0.4, jpeg
    resized = ratio(kinds="downscale", scale=(0.9, 0.9))
    assert min(resized["jpeg_block_h"], resized["jpeg_block_v"]) > 0.8, resized
    for name in ("peak_max", "peak_top3", "tex_rich_rgbcorr"):
        assert resized[name] < 0.5, (name, resized[name])
