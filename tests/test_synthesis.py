"""Pseudo-fake synthesis and degradations: determinism, masks, groups, file encoding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfeat import load_dataset, make_demo_dataset
from deepfeat.detector import _training
from deepfeat.synthesis import (
    DEGRADATIONS,
    UPSAMPLE_METHODS,
    degrade,
    degrade_dataset,
    face_mask,
    make_pseudo_fakes,
    self_blend,
    upsample_trace,
)


def _image(seed: int = 0, h: int = 96, w: int = 80) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC))
    noise = rng.integers(-20, 21, big.shape)
    return np.clip(big.astype(int) + noise, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- masks
@pytest.mark.parametrize("shape", [(64, 64), (100, 40), (60, 200, 3)])
@pytest.mark.parametrize("seed", range(5))
def test_face_mask_inside_image_soft_and_nonempty(shape, seed):
    m = face_mask(shape, random_state=seed)
    assert m.shape == shape[:2] and m.dtype == np.float32
    assert m.min() >= 0.0 and m.max() == pytest.approx(1.0)
    # the border (outside the ellipse) is (nearly) untouched
    border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
    assert border.max() < 0.5
    assert (m > 0.5).mean() > 0.05


def test_face_mask_follows_box_and_landmarks():
    m = face_mask((100, 100), box=(0, 0, 40, 40), random_state=0)
    ys, xs = np.nonzero(m > 0.5)
    assert xs.mean() < 35 and ys.mean() < 35
    lm = np.array([[60, 60], [80, 60], [70, 70], [62, 80], [78, 80]], float)
    m = face_mask((100, 100), landmarks=lm, random_state=0)
    ys, xs = np.nonzero(m > 0.5)
    assert 60 < xs.mean() < 80 and 60 < ys.mean() < 85


def test_face_mask_box_outside_image_stays_inside():
    m = face_mask((50, 50), box=(-100, -100, 300, 300), random_state=0)
    assert m.shape == (50, 50) and np.isfinite(m).all() and m.max() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- blend
def test_self_blend_deterministic_per_seed():
    img = _image()
    a = self_blend(img, random_state=3)
    b = self_blend(img, random_state=3)
    c = self_blend(img, random_state=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_self_blend_changes_only_the_masked_region():
    img = _image(1)
    fake, mask = self_blend(img, random_state=0, return_mask=True)
    assert fake.shape == img.shape and fake.dtype == np.uint8
    diff = np.abs(fake.astype(int) - img.astype(int)).max(axis=2)
    assert diff[mask < 1e-4].max() <= 1  # outside the mask: the real, up to rounding
    assert diff[mask > 0.5].mean() > 1.0


def test_self_blend_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        self_blend(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="too small"):
        self_blend(np.zeros((4, 4, 3), np.uint8))


# ----------------------------------------------------------------------------- upsample
@pytest.mark.parametrize("method", UPSAMPLE_METHODS)
@pytest.mark.parametrize("factor", [2, 4, 8])
def test_upsample_trace_shape_and_determinism(method, factor):
    img = _image(2, 70, 90)  # sides not divisible by the factor
    a = upsample_trace(img, factor=factor, method=method, random_state=5)
    b = upsample_trace(img, factor=factor, method=method, random_state=5)
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)


def test_upsample_trace_leaves_a_periodic_spectral_peak():
    """Zero insertion puts energy at the spectrum's replica (N/2) that a real lacks."""
    rng = np.random.default_rng(0)
    img = _image(3, 128, 128)
    fake = upsample_trace(img, factor=2, method="nearest", smooth=0, detail=0, random_state=rng)

    def nyquist_share(x):
        g = x.astype(float).mean(axis=2)
        f = np.abs(np.fft.fft2(g - g.mean())) ** 2
        return f[64, :].sum() / f.sum()  # the row at the vertical Nyquist frequency

    nearest = nyquist_share(fake)
    assert nearest < nyquist_share(img)  # nearest: the band above N/2 is a replica
    blockiness = np.abs(fake[0::2] - fake[1::2].astype(int)).mean()
    assert blockiness == 0  # nearest neighbour: rows repeated exactly


def test_upsample_trace_detail_restores_sharpness():
    img = _image(4, 128, 128)
    flat = upsample_trace(img, factor=4, method="bilinear", smooth=0, detail=0.0)
    sharp = upsample_trace(img, factor=4, method="bilinear", smooth=0, detail=1.0)
    err_flat = np.abs(flat.astype(int) - img).mean()
    err_sharp = np.abs(sharp.astype(int) - img).mean()
    assert err_sharp < err_flat


def test_upsample_trace_bad_parameters():
    img = _image()
    with pytest.raises(ValueError, match="factor"):
        upsample_trace(img, factor=3)
    with pytest.raises(ValueError, match="method"):
        upsample_trace(img, method="cubic")
    with pytest.raises(ValueError, match="detail"):
        upsample_trace(img, detail=2.0)


# ----------------------------------------------------------------------------- degrade
@pytest.mark.parametrize("kind", DEGRADATIONS)
def test_degrade_each_kind(kind):
    img = _image(5)
    out = degrade(img, kinds=kind, random_state=0)
    assert out.dtype == np.uint8 and out.ndim == 3
    assert np.array_equal(out, degrade(img, kinds=kind, random_state=0))
    if kind == "downscale":
        assert out.shape[0] < img.shape[0] and out.shape[1] < img.shape[1]
    else:
        assert out.shape == img.shape and not np.array_equal(out, img)


def test_degrade_rejects_unknown_kind():
    with pytest.raises(ValueError, match="subset"):
        degrade(_image(), kinds=("sharpen",))


# ----------------------------------------------------------------------------- datasets
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = make_demo_dataset(tmp_path_factory.mktemp("demo"), n_images=24, random_state=1)
    return load_dataset(root)


def test_make_pseudo_fakes_groups_origin_and_determinism(demo, tmp_path):
    reals = demo[demo.label == 0]
    fakes, failures = make_pseudo_fakes(demo, tmp_path / "a", faces="center", random_state=7)
    assert len(failures) == 0
    assert len(fakes) == 2 * len(reals)
    assert (fakes.label == 1).all()
    assert set(fakes.origin) == {"pseudo_blend", "pseudo_upsample"}
    group_of = dict(zip(reals.path, reals.group))
    assert (fakes.group == fakes.source_path.map(group_of)).all()
    # nothing written next to the user's data
    assert all(str(tmp_path / "a") in p for p in fakes.path)
    again, _ = make_pseudo_fakes(demo, tmp_path / "b", faces="center", random_state=7)
    for p, q in zip(fakes.path, again.path):
        assert Path(p).read_bytes() == Path(q).read_bytes()
    other, _ = make_pseudo_fakes(demo, tmp_path / "c", faces="center", random_state=8)
    assert any(Path(p).read_bytes() != Path(q).read_bytes() for p, q in zip(fakes.path, other.path))


def test_pseudo_fakes_keep_the_container_of_their_source(demo, tmp_path):
    fakes, _ = make_pseudo_fakes(demo, tmp_path, kinds="upsample", faces="center")
    for src, dst in zip(fakes.source_path, fakes.path):
        with Image.open(src) as a, Image.open(dst) as b:
            assert a.format == b.format
            assert a.size == b.size
            if a.format == "JPEG":
                assert a.quantization == b.quantization
                assert bool(a.info.get("exif")) == bool(b.info.get("exif"))


def test_pseudo_fakes_record_unreadable_reals(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    fakes, failures = make_pseudo_fakes([str(bad), str(tmp_path / "gone.jpg")], tmp_path / "o")
    assert len(fakes) == 0
    assert sorted(failures.path) == sorted([str(bad), str(tmp_path / "gone.jpg")])
    assert (failures.stage == "synthesis").all()


def test_make_pseudo_fakes_rejects_unknown_kind(demo, tmp_path):
    with pytest.raises(ValueError, match="kinds"):
        make_pseudo_fakes(demo, tmp_path, kinds=("swap",))


def test_degrade_dataset_probability_and_groups(demo, tmp_path):
    out, failures = degrade_dataset(demo, tmp_path, probability=0.5, random_state=0)
    assert len(failures) == 0 and len(out) == len(demo)
    changed = out.path != demo.path
    assert 0 < changed.sum() < len(demo)
    assert (out.degraded[changed] != "").all() and (out.degraded[~changed] == "").all()
    pd.testing.assert_series_equal(out.label, demo.label)
    pd.testing.assert_series_equal(out.group, demo.group)
    none, _ = degrade_dataset(demo, tmp_path, probability=0.0)
    assert (none.path == demo.path).all()
    with pytest.raises(ValueError, match="probability"):
        degrade_dataset(demo, tmp_path, probability=1.5)


# ----------------------------------------------------------------------------- detector
def _det(**kw):
    from deepfeat import DeepfakeDetector

    params = {
        "feature_groups": ("fft", "meta"),
        "n_estimators": 40,
        "audit": False,
        "linear_probe": False,
        "random_state": 0,
    }
    params.update(kw)
    return DeepfakeDetector(**params)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_detector_trains_on_reals_only_with_pseudo_fakes(demo, tmp_path):
    reals = demo[demo.label == 0].reset_index(drop=True)
    data_root = Path(reals.path[0]).parents[1]
    before = _listing(data_root)
    det = _det(pseudo_fakes=("blend", "upsample"), cache_dir=tmp_path / "cache")
    det.fit(list(reals.path), np.zeros(len(reals), dtype=int))
    assert det.training_summary_["origin"] == {
        "original": len(reals),
        "pseudo_blend": len(reals),
        "pseudo_upsample": len(reals),
    }
    assert det.training_summary_["n_fake"] == 2 * len(reals)
    proba = det.predict_proba(list(demo.path))
    assert proba.shape == (len(demo), 2) and np.isfinite(proba).all()
    assert _listing(data_root) == before  # nothing written next to the data
    assert any((tmp_path / "cache" / "synthesis").rglob("*.jpg"))


def test_detector_without_fakes_and_without_synthesis_refuses(demo):
    reals = demo[demo.label == 0]
    with pytest.raises(ValueError, match="one class"):
        _det().fit(list(reals.path), np.zeros(len(reals), dtype=int))


def test_detector_pseudo_fakes_need_images(demo):
    X = pd.DataFrame({"fft_000": np.arange(10.0), "fft_001": np.ones(10)})
    with pytest.raises(ValueError, match="feature table"):
        _det(pseudo_fakes="blend").fit(X, np.r_[np.zeros(5), np.ones(5)].astype(int))


@pytest.mark.parametrize(
    "kw", [{"pseudo_fakes": "swap"}, {"augment": 2.0}, {"augment": {"p": 1}}, {"augment": "x"}]
)
def test_detector_rejects_bad_synthesis_parameters(demo, kw):
    with pytest.raises(ValueError):
        _det(**kw).fit(demo, demo.label.to_numpy())


def test_detector_augment_degrades_both_classes_and_reuses_the_cache(demo, tmp_path):
    det = _det(augment=1.0, cache_dir=tmp_path)
    det.fit(demo)
    assert det.training_summary_["origin"]["degraded"] == len(demo)
    first = sorted(p.name for p in (tmp_path / "synthesis").rglob("*.*"))
    again = _det(augment=1.0, cache_dir=tmp_path).fit(demo)
    assert sorted(p.name for p in (tmp_path / "synthesis").rglob("*.*")) == first
    a = det.predict_proba(list(demo.path))
    b = again.predict_proba(list(demo.path))
    np.testing.assert_array_equal(a, b)


def test_temporary_synthesis_folder_is_removed(demo, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _det(pseudo_fakes="upsample").fit(demo)
    assert not list(tmp_path.glob("deepfeat-synth-*"))


def test_no_pseudo_fake_in_a_validation_fold_next_to_its_real(tmp_path):
    from deepfeat.synthesis import expand_training_set

    demo = load_dataset(make_demo_dataset(tmp_path / "d", n_images=150, random_state=2))
    data, _ = expand_training_set(demo, tmp_path / "s", pseudo_fakes=True, faces="center")
    det = _det(validation_fraction=0.25)
    y, g = data.label.to_numpy(), data.group.to_numpy()
    train, val = _training.holdout_split(det, y, g)
    side = {p: "train" for p in data.path.iloc[train]} | {p: "val" for p in data.path.iloc[val]}
    pseudo = data[data.origin != "original"]
    assert len(pseudo)
    for src, path in zip(pseudo.source_path, pseudo.path):
        assert side[src] == side[path]
    assert not set(g[train]) & set(g[val])


# ----------------------------------------------------------------------------- CLI
def _cli(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from deepfeat.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_cli_train_with_pseudo_fakes_and_augment(demo_dir, tmp_path):
    code, _, err = _cli(
        "train",
        str(demo_dir),
        "--out",
        str(tmp_path / "model"),
        "--groups",
        "fft,meta",
        "--pseudo-fakes",
        "blend,upsample",
        "--augment",
        "0.5:blur,jpeg",
        "--cache",
        str(tmp_path / "cache"),
        "--quiet",
    )
    assert code == 0, err
    assert "synthesis: 12 pseudo_blend, 12 pseudo_upsample" in err
    card = json.loads((tmp_path / "model" / "card.json").read_text())
    origin = card["training"]["origin"]
    assert origin["pseudo_blend"] == origin["pseudo_upsample"] == 12
    assert origin["original"] == 60
    assert any((tmp_path / "cache" / "synthesis").rglob("*.jpg"))


def test_cli_train_on_a_parquet_with_pseudo_fakes(demo_dir, tmp_path):
    feats = tmp_path / "f.parquet"
    assert _cli("extract", str(demo_dir), "--out", str(feats), "--groups", "fft", "-q")[0] == 0
    code, _, err = _cli(
        "train", str(feats), "--out", str(tmp_path / "m"), "--pseudo-fakes", "upsample", "-q"
    )
    assert code == 0, err
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["training"]["origin"] == {"original": 60, "pseudo_upsample": 12}


def test_cli_train_rejects_a_bad_augment_spec(demo_dir, tmp_path):
    code, _, err = _cli(
        "train", str(demo_dir), "--out", str(tmp_path / "m"), "--augment", "0.5:sharpen", "-q"
    )
    assert code != 0 and "augment kinds" in err


def test_validation_metrics_leave_pseudo_fakes_out(tmp_path):
    demo = load_dataset(make_demo_dataset(tmp_path / "d", n_images=150, random_state=3))
    det = _det(pseudo_fakes="upsample", cache_dir=tmp_path / "c").fit(demo)
    m = det.validation_metrics_
    assert m["rows"].startswith("original images only")
    n_val = det.training_summary_["validation_samples"]
    assert m["n"] < n_val  # the pseudo-fakes of the fold were not scored
    reals_only = demo[demo.label == 0]
    det = _det(pseudo_fakes="upsample", cache_dir=tmp_path / "c").fit(reals_only)
    assert det.validation_metrics_["rows"].startswith("all, pseudo-fakes included")


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic", "smooth"])
def test_saved_models_with_new_settings_load(tmp_path, calibration):
    """Every calibration, the synthesis settings and the scale policy pass the card schema."""
    from deepfeat import DeepfakeDetector

    demo = load_dataset(make_demo_dataset(tmp_path / "d", n_images=150, random_state=4))
    det = _det(
        pseudo_fakes="upsample",
        augment=0.3,
        cache_dir=tmp_path / "c",
        calibration=calibration,
    ).fit(demo)
    back = DeepfakeDetector.load(det.save(tmp_path / "m"))
    assert back.calibration == calibration and back.pseudo_fakes == "upsample"
    assert back.features_.canonical_size == 256
    np.testing.assert_allclose(
        back.predict_proba(list(demo.path[:5])), det.predict_proba(list(demo.path[:5]))
    )


def test_card_with_null_sidecar_columns_is_a_model_file_error(tmp_path, demo):
    from deepfeat import DeepfakeDetector
    from deepfeat.detector import ModelFileError

    path = _det().fit(demo).save(tmp_path / "m")
    card = json.loads((path / "card.json").read_text())
    card["sidecar_columns"] = None
    (path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match="sidecar_columns"):
        DeepfakeDetector.load(path)


def test_cli_train_with_dask_refuses_synthesis_instead_of_ignoring_it(demo_dir, tmp_path):
    code, _, err = _cli(
        "train",
        str(demo_dir),
        "--out",
        str(tmp_path / "m"),
        "--pseudo-fakes",
        "blend",
        "--dask-local",
        "1",
        "-q",
    )
    assert code != 0 and "not available with Dask" in err
