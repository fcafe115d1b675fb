"""Local-consistency statistics (``fft_local_*``) and the scale policy (``canonical_size``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepfeat import FFTSpectrum, ImageFeatures
from deepfeat.features._local_kernel import LOCAL_FEATURE_NAMES, LOCAL_MEASURES, local_contrast


def _noise(size: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def _col(name: str) -> int:
    return LOCAL_FEATURE_NAMES.index(f"local_{name}")


def test_names_cover_every_measure_twice():
    assert len(LOCAL_FEATURE_NAMES) == 2 * len(LOCAL_MEASURES)
    assert all(n.startswith("local_") and "__" not in n for n in LOCAL_FEATURE_NAMES)


def test_uniform_image_has_no_centre_surround_contrast():
    v = local_contrast(_noise())
    assert v.dtype == np.float32 and v.shape == (len(LOCAL_FEATURE_NAMES),)
    for m in ("hf", "mf", "noise", "grad"):
        assert abs(v[_col(f"{m}_diff")]) < 0.15


def test_blurred_centre_lowers_high_band_contrast():
    img = _noise()
    soft = img.copy()
    soft[24:72, 24:72] = cv2.GaussianBlur(img, (0, 0), 1.5)[24:72, 24:72]
    v = local_contrast(soft)
    assert v[_col("hf_diff")] < -0.5 and v[_col("noise_diff")] < -0.2
    assert v[_col("hf_std")] > local_contrast(img)[_col("hf_std")]


def test_colour_shift_of_the_centre_shows_in_lab():
    img = np.full((64, 64, 3), 128, np.uint8)
    img[16:48, 16:48] = (160, 128, 128)  # redder centre
    v = local_contrast(img)
    assert v[_col("a_diff")] > 5 and v[_col("l_diff")] > 0


def test_invariant_to_a_global_blur_of_a_flat_texture():
    """A source-wide softness moves the absolute energies, not the centre-surround gap."""
    img = _noise(128)
    soft = cv2.GaussianBlur(img, (0, 0), 1.0)
    a, b = local_contrast(img), local_contrast(soft)
    assert abs(a[_col("hf_diff")] - b[_col("hf_diff")]) < 0.2


def test_small_or_odd_inputs_give_nan_not_errors():
    assert np.isnan(local_contrast(np.zeros((8, 8, 3), np.uint8))).all()
    assert np.isnan(local_contrast(np.zeros((64, 64), np.uint8))).all()
    with pytest.raises(ValueError, match="grid"):
        local_contrast(_noise(), grid=2)


def test_fft_spectrum_local_option_appends_named_columns():
    fft = FFTSpectrum(n_bins=8, local=True).set_output(transform="pandas")
    X = fft.fit_transform([_noise(64), _noise(64, 1)])
    assert list(X.columns[-14:]) == [f"fft_{n}" for n in LOCAL_FEATURE_NAMES]
    np.testing.assert_allclose(X.iloc[0, -14:].to_numpy(), local_contrast(_noise(64)), rtol=1e-6)
    with pytest.raises(ValueError, match="local"):
        FFTSpectrum(local="yes").fit()


# ----------------------------------------------------------------------------- scale policy
def test_canonical_size_shrinks_large_images_only():
    big, small = _noise(512), _noise(128, 1)
    native = ImageFeatures(groups=("fft",), canonical_size=None).fit()
    canon = ImageFeatures(groups=("fft",)).fit()  # the default policy: 256 px
    shrunk = cv2.resize(big, (256, 256), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(canon.transform([big]), native.transform([shrunk]), rtol=1e-5)
    np.testing.assert_array_equal(canon.transform([small]), native.transform([small]))


def test_canonical_size_is_part_of_the_cache_key(tmp_path):
    from deepfeat.features._cache import settings_digest

    a = settings_digest(ImageFeatures(groups=("fft",), canonical_size=None).fit())
    b = settings_digest(ImageFeatures(groups=("fft",), canonical_size=256).fit())
    c = settings_digest(ImageFeatures(groups=("fft",), canonical_size=128).fit())
    assert len({a, b, c}) == 3


def test_canonical_size_round_trips_through_a_model_card_and_old_cards_stay_native(tmp_path):
    import json

    from deepfeat import DeepfakeDetector, load_dataset, make_demo_dataset

    df = load_dataset(make_demo_dataset(tmp_path / "d", n_images=30))
    det = DeepfakeDetector(feature_groups=("fft",), n_estimators=20, audit=False).fit(df)
    assert det.features_.canonical_size == 256
    det.save(tmp_path / "m")
    assert DeepfakeDetector.load(tmp_path / "m").features_.canonical_size == 256
    card_path = tmp_path / "m" / "card.json"
    card = json.loads(card_path.read_text())
    card["extractor"]["params"].pop("canonical_size")  # a card written before the policy
    card_path.write_text(json.dumps(card))
    assert DeepfakeDetector.load(tmp_path / "m").features_.canonical_size is None


@pytest.mark.parametrize("bad", [0, 8, 2.5, True, "256"])
def test_canonical_size_validation(bad):
    with pytest.raises(ValueError, match="canonical_size"):
        ImageFeatures(groups=("fft",), canonical_size=bad).fit()
