"""Feature cache: reuse, invalidation on settings change, atomic chunks, failures cached."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfeat import ImageFeatures, load_dataset
from deepfeat.features._cache import FeatureCache, extract_table, file_digest, settings_digest


def _fft(**kw):
    return ImageFeatures(groups=("fft",), **kw).fit()


def test_cache_reuses_rows_and_matches_fresh_extraction(demo_dir, tmp_path):
    df = load_dataset(demo_dir)
    ext = _fft()
    fresh, _ = extract_table(df, ext)
    first, _ = extract_table(df.iloc[:25], ext, cache_dir=tmp_path, chunk_size=10)
    assert first.attrs["n_extracted"] == 25
    second, _ = extract_table(df, ext, cache_dir=tmp_path, chunk_size=10)
    assert second.attrs["n_extracted"] == len(df) - 25
    assert second.attrs["n_cached"] == 25
    np.testing.assert_array_equal(second.to_numpy(), fresh.to_numpy())
    third, _ = extract_table(df, ext, cache_dir=tmp_path, chunk_size=10)
    assert third.attrs["n_extracted"] == 0
    np.testing.assert_array_equal(third.to_numpy(), fresh.to_numpy())
    assert not list(tmp_path.rglob("*.tmp"))


def test_changing_a_setting_never_reuses_rows(demo_dir, tmp_path):
    df = load_dataset(demo_dir).iloc[:12]
    from deepfeat import FFTSpectrum

    a = _fft()
    b = ImageFeatures(groups=("fft",), fft=FFTSpectrum(n_bins=32)).fit()
    assert settings_digest(a) != settings_digest(b)
    extract_table(df, a, cache_dir=tmp_path)
    res, _ = extract_table(df, b, cache_dir=tmp_path)
    assert res.attrs["n_extracted"] == 12
    assert res.shape[1] == len(b.get_feature_names_out())
    # batch size and workers do not change values, so they share a cache
    assert settings_digest(a) == settings_digest(ImageFeatures(groups=("fft",), batch_size=7).fit())


def test_default_cnn_precision_keeps_the_cache_keys_from_before_precision(monkeypatch):
    # CNNEmbedder(precision=) arrived after caches were written; the default fp32 reads the
    # same backbone, so its rows must stay cache hits (int8 gets its own key: test_cnn).
    from deepfeat import CNNEmbedder

    ext = ImageFeatures(groups=("cnn",)).fit()
    with_precision = settings_digest(ext)
    get_params = CNNEmbedder.get_params

    def before_precision(self, deep=True):
        return {k: v for k, v in get_params(self, deep=deep).items() if k != "precision"}

    monkeypatch.setattr(CNNEmbedder, "get_params", before_precision)
    assert settings_digest(ext) == with_precision


def test_same_content_different_path_is_a_cache_hit(tmp_path, demo_dir):
    df = load_dataset(demo_dir).iloc[:3]
    copies = []
    for i, p in enumerate(df["path"]):
        target = tmp_path / "copies" / f"c{i}.jpg"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(Path(p).read_bytes())
        copies.append(str(target))
    ext = _fft()
    extract_table(list(df["path"]), ext, cache_dir=tmp_path / "cache")
    res, _ = extract_table(copies, ext, cache_dir=tmp_path / "cache")
    assert res.attrs["n_extracted"] == 0


def test_failures_are_cached_and_reported_again(tmp_path):
    good = tmp_path / "good.png"
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    missing = tmp_path / "missing.jpg"
    ext = _fft()
    feats, fails = extract_table([str(good), str(bad), str(missing)], ext, cache_dir=tmp_path / "c")
    assert np.isfinite(feats.iloc[0]).sum() > 50
    assert feats.iloc[1:].isna().all().all()
    assert set(fails["path"]) == {str(bad), str(missing)}
    again, fails2 = extract_table(
        [str(good), str(bad), str(missing)], ext, cache_dir=tmp_path / "c"
    )
    assert again.attrs["n_extracted"] == 0
    pd.testing.assert_frame_equal(
        fails.sort_values("path").reset_index(drop=True),
        fails2.sort_values("path").reset_index(drop=True),
    )


def test_damaged_chunk_is_ignored(tmp_path, demo_dir):
    df = load_dataset(demo_dir).iloc[:5]
    ext = _fft()
    extract_table(df, ext, cache_dir=tmp_path)
    cache = FeatureCache(tmp_path, settings_digest(ext))
    (cache.folder / "chunk-00000000000000000000-broken.parquet").write_bytes(b"garbage")
    res, _ = extract_table(df, ext, cache_dir=tmp_path)
    assert res.attrs["n_extracted"] == 0


def test_iter_extract_streams_chunks_in_order(demo_dir, tmp_path):
    """Chunks come in input order, mixing cached and new rows, equal to extract_table."""
    from deepfeat.features._cache import iter_extract

    df = load_dataset(demo_dir)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    ext = ImageFeatures(groups=("fft", "meta"), batch_size=3, n_jobs=2).fit(df)
    extract_table(df.iloc[5:17], ext, cache_dir=tmp_path / "c", chunk_size=4)  # warm some
    data = pd.concat([df, pd.DataFrame({"path": [str(bad)]})], ignore_index=True)
    chunks = list(iter_extract(data, ext, cache_dir=tmp_path / "c", chunk_size=7))
    assert [(c.start, c.stop) for c in chunks] == [
        (s, min(s + 7, len(data))) for s in range(0, len(data), 7)
    ]
    assert sum(c.n_extracted for c in chunks) == len(data) - 12
    streamed = np.concatenate([c.values for c in chunks])
    fresh, fails = extract_table(data, ext)
    np.testing.assert_array_equal(streamed, fresh.to_numpy())
    assert [f["path"] for c in chunks for f in c.failures] == fails["path"].tolist() == [str(bad)]


def test_io_failures_are_never_cached(tmp_path, monkeypatch):
    """A file deleted after hashing and restored byte for byte gets features next run."""
    import deepfeat.features._cache as cache_module

    path = tmp_path / "flaky.png"
    noise = np.random.default_rng(1).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    content = path.read_bytes()
    real_digest = cache_module.file_digest

    def digest_then_delete(p, *args, **kw):
        out = real_digest(p, *args, **kw)
        Path(p).unlink()  # gone between hashing and decoding
        return out

    monkeypatch.setattr(cache_module, "file_digest", digest_then_delete)
    ext = _fft()
    feats, fails = extract_table([str(path)], ext, cache_dir=tmp_path / "c")
    assert feats.isna().all().all() and list(fails["reason"]) == ["no such file"]
    monkeypatch.setattr(cache_module, "file_digest", real_digest)
    path.write_bytes(content)  # restored, same bytes: same content hash
    again, fails2 = extract_table([str(path)], ext, cache_dir=tmp_path / "c")
    assert len(fails2) == 0 and again.attrs["n_extracted"] == 1
    assert np.isfinite(again.iloc[0]).sum() > 50


def test_decode_failures_are_cached(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff" + b"garbage" * 10)
    ext = _fft()
    extract_table([str(bad)], ext, cache_dir=tmp_path / "c")
    again, fails = extract_table([str(bad)], ext, cache_dir=tmp_path / "c")
    assert again.attrs["n_extracted"] == 0 and len(fails) == 1  # a function of the bytes


@pytest.mark.timeout(60)
def test_special_files_are_refused_before_reading(tmp_path):
    """A FIFO or /dev/zero used to hang the content hash forever."""
    good = tmp_path / "good.png"
    noise = np.random.default_rng(2).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(noise).save(good)
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    folder = tmp_path / "dir.jpg"
    folder.mkdir()
    inputs = [str(good), str(fifo), "/dev/zero", str(folder)]
    for cache in (tmp_path / "c", None):
        feats, fails = extract_table(inputs, _fft(), cache_dir=cache)
        assert np.isfinite(feats.iloc[0]).sum() > 50
        assert feats.iloc[1:].isna().all().all()
        reasons = dict(zip(fails["path"], fails["reason"]))
        assert "FIFO" in reasons[str(fifo)]
        assert "character device" in reasons["/dev/zero"]
        assert "directory" in reasons[str(folder)]


def test_file_digest_refuses_special_files(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO"):
        file_digest(fifo)
    with pytest.raises(OSError, match="character device"):
        file_digest("/dev/zero")


def test_forensic_group_keys_the_cache_only_when_on():
    # the opt-in group must leave the default extractor's cache (and every cache written
    # before it existed) valid: the default digest is pinned for this version and backbone
    import deepfeat
    from deepfeat._schema import DEFAULT_GROUPS

    default = settings_digest(ImageFeatures().fit())
    with_forensic = settings_digest(ImageFeatures(groups=(*DEFAULT_GROUPS, "forensic")).fit())
    assert with_forensic != default
    if deepfeat.__version__ == "0.1.0":
        assert default == "6f770fcacd87b112"
