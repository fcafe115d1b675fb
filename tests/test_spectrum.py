"""Tests of the frequency features: radial_spectrum, block_dct_features and FFTSpectrum."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.interpolate import griddata
from sklearn.base import clone

import deepfeat
from deepfeat import ImageLoadError, load_image
from deepfeat.features._fft import FFTSpectrum
from deepfeat.features._fft_kernel import (
    DCT_FEATURE_NAMES,
    block_dct_features,
    radial_spectrum,
    spectrum_vector,
)

N_BINS = 64
#: centre frequency (cycles/px) of each power-mode bin for N_BINS bins
CENTRES = (np.arange(N_BINS) + 0.5) / (2 * N_BINS)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def cosine(h: int, w: int, freq: float, angle_deg: float, phase: float = 0.3) -> np.ndarray:
    """A pure 2-D cosine of ``freq`` cycles/px in direction ``angle_deg``, values in [0.1, 0.9]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a = np.deg2rad(angle_deg)
    return 0.5 + 0.4 * np.cos(2 * np.pi * freq * (np.cos(a) * x + np.sin(a) * y) + phase)


def power_law_noise(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Periodic Gaussian noise whose POWER spectrum is ∝ f^-alpha (amplitude ∝ f^-alpha/2)."""
    f = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :])
    f[0, 0] = 1.0
    amplitude = f ** (-alpha / 2)
    amplitude[0, 0] = 0.0
    spec = amplitude * (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
    x = np.real(np.fft.ifft2(spec))
    return 0.5 + 0.1 * (x - x.mean()) / x.std()


def bin_of(freq: float, n_bins: int = N_BINS) -> int:
    return int(freq * 2 * n_bins)


def naive_power(x: np.ndarray, n_bins: int) -> np.ndarray:
    """The power-mode formula on the full fft2 plane with one boolean mask per bin."""
    x = np.asarray(x, dtype=np.float64)
    h, w = x.shape
    win = np.outer(
        np.sin(np.pi * (np.arange(h) + 0.5) / h) ** 2,
        np.sin(np.pi * (np.arange(w) + 0.5) / w) ** 2,
    )
    mu = (win * x).sum() / win.sum()
    power = np.abs(np.fft.fft2((x - mu) * win)) ** 2 / (win**2).sum()
    r = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    out = np.full(n_bins, np.nan)
    for j in range(n_bins):
        lo, hi = j / (2 * n_bins), (j + 1) / (2 * n_bins)
        upper = r < hi if j < n_bins - 1 else r <= 0.5
        mask = (r >= lo) & upper & (r > 0)
        if mask.any():
            out[j] = np.log10(max(power[mask].mean(), 1e-12))
    return out


def naive_durall(gray255: np.ndarray, n_bins: int) -> np.ndarray:
    """Durall et al.'s recipe from its formula: integer rings around ((w-1)/2, (h-1)/2)."""
    h, w = gray255.shape
    spectrum = 20 * np.log(np.abs(np.fft.fftshift(np.fft.fft2(gray255))) + 1e-8)
    yy, xx = np.mgrid[0:h, 0:w]
    ring = np.floor(np.hypot(xx - (w - 1) / 2, yy - (h - 1) / 2)).astype(int)
    profile = np.array([spectrum[ring == r].mean() for r in range(1, ring.max())])
    points = np.linspace(0, n_bins, num=profile.size)
    resampled = griddata(points, profile, np.linspace(0, n_bins, num=n_bins), method="cubic")
    return resampled / resampled[0]


def encode(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def image_files(tmp_path_factory) -> list[str]:
    """Small files in every Pillow mode load_image supports, plus odd sizes."""
    root = tmp_path_factory.mktemp("modes")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(40, 33, 3), dtype=np.uint8)
    base = Image.fromarray(rgb)
    gray = base.convert("L")
    files = {
        "rgb.jpg": (base, {}),
        "l.png": (gray, {}),
        "la.png": (base.convert("LA"), {}),
        "p.png": (base.convert("P"), {}),
        "rgba.png": (base.convert("RGBA"), {}),
        "cmyk.jpg": (base.convert("CMYK"), {}),
        "cmyk.tif": (base.convert("CMYK"), {}),
        "bilevel.png": (base.convert("1"), {}),
        "i16.png": (Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257), {}),
        "i32.tif": (gray.convert("I"), {}),
        "f32.tif": (Image.fromarray(rgb[:, :, 1].astype(np.float32) / 255), {}),
        "tiny.png": (Image.fromarray(rgb[:3, :5]), {}),
        "one.png": (Image.fromarray(rgb[:1, :1]), {}),
    }
    ptrans = base.convert("P")
    ptrans.info["transparency"] = 0
    files["p_transparent.png"] = (ptrans, {"transparency": 0})
    paths = []
    for name, (img, kwargs) in files.items():
        path = root / name
        img.save(path, **kwargs)
        paths.append(str(path))
    return paths


# --------------------------------------------------------------------------------------
# power mode: frequencies land where they should
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "n_bins"),
    [((128, 128), 32), ((224, 224), 64), ((256, 256), 64), ((301, 200), 64), ((160, 301), 48)],
)
@pytest.mark.parametrize("fraction", [0.1, 0.35, 0.63, 0.9])
@pytest.mark.parametrize("angle", [0, 90, 30])
def test_cosine_peak_in_the_bin_of_its_frequency(size, n_bins, fraction, angle):
    # bins must be at least as wide as the DFT spacing 1/side for "the bin containing f"
    # to be well defined; the frequency is put at the centre of its bin
    bin_index = int(fraction * n_bins)
    freq = (bin_index + 0.5) / (2 * n_bins)
    spec = radial_spectrum(cosine(*size, freq, angle), n_bins=n_bins)
    assert np.nanargmax(spec) == bin_index
    # the peak stands well above everything not adjacent to it
    far = np.abs(np.arange(n_bins) - bin_index) > 2
    assert spec[bin_index] > np.nanmax(spec[far]) + 2


def test_same_frequency_same_bin_for_every_size():
    freq = CENTRES[45]  # 0.355 cycles/px
    peaks = {
        n: int(np.nanargmax(radial_spectrum(cosine(n, n, freq, 20))))
        for n in (150, 200, 224, 256, 400)
    }
    assert set(peaks.values()) == {45}, peaks


def test_power_matches_naive_full_plane_reference(rng):
    # odd, even and mixed sizes exercise the half-plane (rfft2) weighting
    for shape in [(64, 64), (63, 65), (40, 71), (71, 40), (7, 9), (3, 5), (2, 2), (1, 6)]:
        x = rng.random(shape)
        fast = radial_spectrum(x, n_bins=16)
        ref = naive_power(x, 16)
        assert np.array_equal(np.isnan(fast), np.isnan(ref)), shape
        np.testing.assert_allclose(fast[~np.isnan(ref)], ref[~np.isnan(ref)], atol=2e-5)


def test_white_noise_is_flat(rng):
    sigma, target = 0.1, -2.0  # log10 σ²
    specs = np.stack([radial_spectrum(rng.normal(0.5, sigma, size=(256, 256))) for _ in range(20)])
    mean = specs.mean(axis=0)
    # bin 0 lacks part of its power (the weighted mean is removed); the low bins hold few
    # coefficients and scatter more (sd 0.17 in bin 1 for one image, 0.07 in bin 8); the
    # others sit at log10 σ² whatever the frequency
    assert np.all(np.abs(mean[1:] - target) < 0.15)
    assert np.all(np.abs(mean[8:] - target) < 0.06)
    assert abs(mean[1:].mean() - target) < 0.02
    assert abs(np.polyfit(CENTRES[1:], mean[1:], 1)[0]) < 0.1  # no trend
    rgb = rng.normal(0.5, sigma, size=(256, 256, 3))
    spec_rgb = radial_spectrum(rgb, channels="rgb").reshape(3, N_BINS)
    assert np.all(np.abs(spec_rgb[:, 8:] - target) < 0.3)  # one image: sd ≈ 0.07 per bin
    assert np.all(np.abs(spec_rgb[:, 8:].mean(axis=1) - target) < 0.03)
    durall = radial_spectrum(rng.normal(0.5, sigma, size=(256, 256)), mode="durall")
    # durall divides by ring 1 (about 8 coefficients, a few % of noise): flat, near 1
    assert np.std(durall[1:]) < 0.01 and np.all(np.abs(durall - 1) < 0.1)


@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_power_law_noise_gives_slope_minus_alpha(alpha, rng):
    # convention: POWER ∝ f^-α, i.e. amplitude ∝ f^-α/2; the log10 power spectrum against
    # log10 f then has slope -α (the amplitude spectrum would have -α/2)
    spec = radial_spectrum(power_law_noise(256, alpha, rng))
    band = (CENTRES > 0.03) & (CENTRES < 0.45)
    slope = np.polyfit(np.log10(CENTRES[band]), spec[band], 1)[0]
    assert slope == pytest.approx(-alpha, abs=0.12)


def test_nearest_neighbour_upsampling_removes_the_high_band(rng):
    noise = rng.normal(0.5, 0.1, size=(128, 128))
    up = np.repeat(np.repeat(noise, 2, axis=0), 2, axis=1)  # 256×256, 2× nearest neighbour
    plain = radial_spectrum(rng.normal(0.5, 0.1, size=(256, 256)))
    spec = radial_spectrum(up)
    hi, lo = CENTRES >= 0.4, CENTRES < 0.1
    # |H(f)|² = cos²(π f_x) cos²(π f_y): about -1.3 decades near Nyquist
    assert spec[hi].mean() - spec[lo].mean() < -1.0
    assert abs(plain[hi].mean() - plain[lo].mean()) < 0.15
    # monotone decay over 0.25 … 0.5 cycles/px, absent from plain noise
    band = slice(bin_of(0.25), N_BINS)
    assert np.polyfit(CENTRES[band], spec[band], 1)[0] < -4
    assert abs(np.polyfit(CENTRES[band], plain[band], 1)[0]) < 1


def test_zero_insertion_upsampling_mirrors_the_spectrum(rng):
    # a stride-2 transposed convolution without smoothing: the low band reappears mirrored
    # around 0.5 cycles/px, so a decaying 1/f² spectrum rises again towards Nyquist
    small = power_law_noise(128, 2.0, rng)
    up = np.zeros((256, 256))
    up[::2, ::2] = small
    spec = radial_spectrum(up)
    plain = radial_spectrum(power_law_noise(256, 2.0, rng))
    mid = slice(bin_of(0.22), bin_of(0.28))
    high = slice(bin_of(0.42), bin_of(0.48))
    assert spec[high].mean() - spec[mid].mean() > 0.3
    assert plain[high].mean() - plain[mid].mean() < -0.3
    assert bin_of(0.2) <= np.argmin(spec) <= bin_of(0.35)


# --------------------------------------------------------------------------------------
# invariances, constants, determinism
# --------------------------------------------------------------------------------------
def test_rotation_and_flip_leave_the_spectrum_unchanged(rng):
    for shape in [(224, 224), (100, 150), (75, 75)]:
        x = rng.random(shape)
        ref = radial_spectrum(x)
        for variant in (np.rot90(x), np.rot90(x, 2), x[::-1], x[:, ::-1]):
            np.testing.assert_allclose(radial_spectrum(variant), ref, atol=1e-4)
    # durall: exact for odd sizes; for even sizes the released code's ring centre sits half
    # a pixel off the DC term, so a rotation moves the rings slightly
    odd = rng.random((75, 75))
    np.testing.assert_allclose(
        radial_spectrum(np.rot90(odd), mode="durall"),
        radial_spectrum(odd, mode="durall"),
        atol=1e-5,
    )
    even = rng.random((64, 64))
    diff = radial_spectrum(np.rot90(even), mode="durall") - radial_spectrum(even, mode="durall")
    assert np.max(np.abs(diff)) < 0.1


@pytest.mark.parametrize("value", [0, 128, 255])
def test_constant_images_give_documented_values(value):
    img = np.full((64, 48, 3), value, dtype=np.uint8)
    for kwargs in [{}, {"channels": "rgb"}, {"residual": "median"}, {"residual": "gaussian"}]:
        spec = radial_spectrum(img, **kwargs)
        filled = ~np.isnan(spec)  # 48 px < 2 × 64 bins: a few annuli hold no coefficient
        assert filled.sum() > 0.8 * spec.size
        assert np.all(spec[filled] == -12.0), kwargs  # the documented floor, never -inf
        durall = radial_spectrum(img, mode="durall", **kwargs)
        np.testing.assert_allclose(durall, 1.0)
    dct = block_dct_features(img)
    assert np.all(np.isfinite(dct))
    assert np.all(dct[1:64] < 1e-4) and np.all(dct[65:128] == 1) and np.all(dct[128:] == 0)


def test_deterministic_float32_and_scale_conventions(rng):
    img = rng.integers(0, 256, size=(90, 120, 3), dtype=np.uint8)
    for kwargs in [{}, {"mode": "durall"}, {"channels": "rgb", "residual": "median"}]:
        a, b = radial_spectrum(img, **kwargs), radial_spectrum(img.copy(), **kwargs)
        assert a.dtype == np.float32 and a.ndim == 1
        np.testing.assert_array_equal(a, b)
        # uint8 0…255 and float 0…1 are the same image
        np.testing.assert_allclose(radial_spectrum(img / 255.0, **kwargs), a, atol=1e-4)
    assert radial_spectrum(img, channels="rgb", n_bins=10).shape == (30,)
    # gray input with channels="rgb": three identical spectra
    gray = rng.random((50, 50))
    np.testing.assert_array_equal(*radial_spectrum(gray, channels="rgb").reshape(3, -1)[:2])
    # luminance is BT.601
    lum = img.astype(np.float64) @ [0.299, 0.587, 0.114] / 255
    np.testing.assert_allclose(radial_spectrum(img), radial_spectrum(lum), atol=1e-4)


def test_max_side_crops_the_centre_without_resizing(rng):
    big = rng.random((300, 500))
    np.testing.assert_allclose(
        radial_spectrum(big, max_side=128), radial_spectrum(big[86:214, 186:314], max_side=None)
    )
    assert not np.allclose(radial_spectrum(big, max_side=None), radial_spectrum(big))


def test_empty_bins_are_nan_and_only_for_small_images(rng):
    # bin 0 is [0, 1/128) cycles/px: above 128 px it holds the DC term's neighbours, at
    # 128 px only the (removed) DC term itself
    assert np.isnan(radial_spectrum(rng.random((128, 128)))).nonzero()[0].tolist() == [0]
    for shape in [(129, 129), (130, 400), (256, 129)]:
        assert np.isfinite(radial_spectrum(rng.random(shape))).all(), shape
    spec = radial_spectrum(rng.random((40, 40)))
    assert np.isnan(spec).any() and not np.isinf(spec).any() and not (spec == 0).any()


def test_residual_is_a_high_pass(rng):
    x = power_law_noise(256, 2.0, rng)
    plain = radial_spectrum(x)
    for kind in ("median", "gaussian"):
        res = radial_spectrum(x, residual=kind)
        assert (plain[:8] - res[:8]).min() > 1.0  # low band strongly suppressed
        assert abs(plain[-1] - res[-1]) < 1.0  # high band kept (roughly)


# --------------------------------------------------------------------------------------
# durall mode against its formula
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64, 64), (37, 37), (40, 52), (52, 40), (224, 224)])
@pytest.mark.parametrize("n_bins", [64, 80, 300])
def test_durall_matches_the_formula(shape, n_bins, rng):
    img = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    gray = img.astype(np.float64) @ [0.299, 0.587, 0.114]
    np.testing.assert_allclose(
        radial_spectrum(img, n_bins=n_bins, mode="durall"), naive_durall(gray, n_bins), atol=1e-6
    )


def test_durall_profile_of_power_law_noise(rng):
    # amplitude ∝ f^-1 (power ∝ f^-2): the mean of 20 ln|F| over ring r is c - 20 ln r, so
    # the profile divided by its first value (ring 1) is linear in ln r and decreasing
    n, n_bins = 255, 100
    spec = radial_spectrum(power_law_noise(n, 2.0, rng), n_bins=n_bins, mode="durall")
    last_ring = int(np.floor(np.hypot((n - 1) / 2, (n - 1) / 2))) - 1  # rings 1 … M-1
    rings = np.linspace(1, last_ring, n_bins)
    inside = rings < n / 2  # rings beyond the inscribed circle only cover the corners
    fit = np.polyfit(np.log(rings[inside]), spec[inside], 1, full=True)
    assert fit[0][0] < 0 and spec[0] == 1
    assert np.sqrt(fit[1][0] / inside.sum()) < 0.01  # rms deviation from the line


# --------------------------------------------------------------------------------------
# every image mode, tiny images
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["power", "durall"])
def test_every_pillow_mode_through_the_transformer(image_files, mode):
    fft = FFTSpectrum(n_bins=16, mode=mode, dct=True)
    X = fft.fit_transform(image_files)
    assert X.shape == (len(image_files), 16 + len(DCT_FEATURE_NAMES)) and X.dtype == np.float32
    assert not np.isinf(X).any()
    big = [i for i, p in enumerate(image_files) if "tiny" not in p and "one" not in p]
    assert np.isfinite(X[big]).all()  # 40×33: every bin and statistic defined
    assert len(fft.failures_) == 0


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 5), (5, 3), (1, 7), (8, 8), (9, 17)])
def test_tiny_images_do_not_crash(shape, rng):
    img = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    for mode in ("power", "durall"):
        for channels in ("gray", "rgb"):
            for residual in (None, "median", "gaussian"):
                spec = radial_spectrum(
                    img, n_bins=8, mode=mode, channels=channels, residual=residual
                )
                assert spec.dtype == np.float32 and not np.isinf(spec).any()
    dct = block_dct_features(img)
    assert dct.shape == (130,) and not np.isinf(dct).any()
    assert np.isnan(dct).all() == (min(shape) < 8)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="NaN"):
        radial_spectrum(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="shape"):
        radial_spectrum(np.zeros((8, 8, 2)))
    with pytest.raises(ValueError, match="mode"):
        radial_spectrum(np.zeros((8, 8)), mode="dB")
    with pytest.raises(ValueError, match="n_bins"):
        radial_spectrum(np.zeros((8, 8)), n_bins=0)


# --------------------------------------------------------------------------------------
# block DCT
# --------------------------------------------------------------------------------------
def test_block_dct_sees_the_jpeg_grid(rng):
    gray = np.clip(power_law_noise(128, 2.0, rng) * 255, 0, 255).round().astype(np.uint8)
    jpeg = load_image(encode(gray, "JPEG", quality=70))
    png = load_image(encode(gray, "PNG"))
    fj, fp, shifted = (
        block_dct_features(jpeg),
        block_dct_features(png),
        block_dct_features(jpeg[4:, 4:]),
    )
    names = list(DCT_FEATURE_NAMES)
    z63, bh, bv = names.index("dct_zero_63"), names.index("dct_block_h"), names.index("dct_block_v")
    assert fj[z63] > 0.5 > fp[z63]  # quantised high frequencies are zero after decoding
    for k in (bh, bv):
        assert fj[k] > 0.05 and fj[k] > shifted[k] + 0.05  # blocky on the 8-px grid only
    # the DC statistic matches a direct computation
    y = jpeg.astype(np.float64) @ [0.299, 0.587, 0.114]
    dc = np.abs(y.reshape(16, 8, 16, 8).mean(axis=(1, 3)) * 8 - 128 * 8).mean()
    assert fj[0] == pytest.approx(np.log1p(dc), rel=1e-4)


# --------------------------------------------------------------------------------------
# transformer
# --------------------------------------------------------------------------------------
def test_feature_names_depend_on_parameters_only():
    assert FFTSpectrum().get_feature_names_out().tolist() == [f"fft_{i:03d}" for i in range(64)]
    cases = {
        (("channels", "rgb"),): ["fft_r_000", "fft_g_000", "fft_b_000"],
        (("residual", "median"),): ["fft_res_000"],
        (("residual", "gaussian"), ("channels", "rgb")): ["fft_res_r_000", "fft_res_b_000"],
        (("mode", "durall"),): ["fft_dur_000"],
        (("dct", True),): ["fft_000", "fft_dct_mag_00", "fft_dct_zero_63", "fft_dct_block_v"],
    }
    for params, expected in cases.items():
        names = list(FFTSpectrum(**dict(params)).get_feature_names_out())
        assert set(expected) <= set(names), params
        assert len(names) == len(set(names))
        assert all(n == n.lower() and n.startswith("fft_") and "__" not in n for n in names)
    assert len(FFTSpectrum(channels="rgb", dct=True).get_feature_names_out()) == 3 * 64 + 130
    assert FFTSpectrum(n_bins=1000).get_feature_names_out()[-1] == "fft_999"


def test_transformer_inputs(tmp_path, rng):
    arrays = [rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8) for _ in range(3)]
    paths = []
    for i, arr in enumerate(arrays):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(arr).save(path)
        paths.append(str(path))
    fft = FFTSpectrum(n_bins=32)
    from_arrays = fft.fit_transform(arrays)
    assert from_arrays.shape == (3, 32) and from_arrays.dtype == np.float32
    np.testing.assert_array_equal(fft.transform(paths), from_arrays)  # PNG is lossless
    frame = pd.DataFrame({"path": paths, "label": [0, 1, 0]})
    np.testing.assert_array_equal(fft.transform(frame), from_arrays)
    np.testing.assert_array_equal(fft.transform(paths[0]), from_arrays[:1])
    np.testing.assert_array_equal(fft.transform(arrays[1]), from_arrays[1:2])
    assert fft.n_features_out_ == 32
    np.testing.assert_array_equal(from_arrays[0], radial_spectrum(arrays[0], n_bins=32))


def test_on_error_record_and_raise(tmp_path, rng):
    good = tmp_path / "good.png"
    Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    fft = FFTSpectrum(n_bins=8, on_error="record")
    X = fft.transform([str(good), str(bad), str(tmp_path / "missing.png")])
    assert np.isfinite(X[0]).all() and np.isnan(X[1:]).all()
    assert fft.failures_["path"].tolist() == [str(bad), str(tmp_path / "missing.png")]
    assert set(fft.failures_["stage"]) == {"load"}
    with pytest.raises(ImageLoadError):
        FFTSpectrum(n_bins=8).transform([str(good), str(bad)])


def test_set_output_clone_pickle(rng):
    images = [rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8) for _ in range(2)]
    fft = FFTSpectrum(n_bins=12, channels="rgb", residual="median", dct=True).set_output(
        transform="pandas"
    )
    frame = fft.fit_transform(images)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(fft.get_feature_names_out())
    twin = clone(fft)
    assert twin.get_params() == fft.get_params()
    restored = pickle.loads(pickle.dumps(fft))
    pd.testing.assert_frame_equal(restored.transform(images), frame)
    np.testing.assert_array_equal(
        twin.set_output(transform="default").transform(images), frame.to_numpy()
    )


@pytest.mark.parametrize(
    "params",
    [
        {"n_bins": 0},
        {"n_bins": 2.5},
        {"mode": "fft"},
        {"channels": "bgr"},
        {"residual": "mean"},
        {"max_side": 0},
        {"dct": "yes"},
        {"on_error": "ignore"},
    ],
)
def test_invalid_parameters_raise(params):
    with pytest.raises(ValueError):
        FFTSpectrum(**params).fit()


def test_lazy_exports():
    assert deepfeat.FFTSpectrum is FFTSpectrum
    assert deepfeat.radial_spectrum is radial_spectrum


@pytest.mark.realdata
def test_real_faces(dfdc_dir, k140_dir):
    paths = (
        sorted((dfdc_dir / "faces_224").glob("*.jpg"))[:4]
        + sorted((k140_dir / "real").glob("*.jpg"))[:4]
    )
    X = FFTSpectrum(dct=True).fit_transform([str(p) for p in paths])
    assert X.shape == (8, 64 + 130) and np.isfinite(X).all()
    # natural images: power falls with frequency (several decades from bin 1 to Nyquist)
    assert np.all(X[:, 1] - X[:, 63] > 2)


def test_kernel_is_the_transformer_row_and_pickles(rng):
    """Worker processes use FFTSpectrum.kernel(): same numbers as transform, picklable."""
    import pickle

    images = [rng.integers(0, 256, (70 + 9 * i, 90, 3), dtype=np.uint8) for i in range(3)]
    fft = FFTSpectrum(n_bins=20, channels="rgb", dct=True, residual="median")
    kernel = pickle.loads(pickle.dumps(fft.kernel()))
    rows = np.vstack([kernel(img) for img in images])
    np.testing.assert_array_equal(rows, fft.fit_transform(images))
    direct = spectrum_vector(images[0], n_bins=20, channels="rgb", dct=True, residual="median")
    np.testing.assert_array_equal(direct, rows[0])
