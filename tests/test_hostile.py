"""Standing hostile-input suite: bad images, special files, concurrent and killed runs, fuzzed
model files.

Every test asserts the same two things: each input ends with features or a recorded reason,
and nothing hangs (per-test timeouts) or takes the interpreter down.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from deepfeat import DeepfakeDetector, ImageFeatures, load_dataset
from deepfeat.cli import main
from deepfeat.detector import ModelFileError
from deepfeat.features._cache import extract_table

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX special files")


# ----------------------------------------------------------------------------- corpus
def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    return struct.pack(">I", len(payload)) + kind + payload + crc


def _bomb_png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _corpus(folder: Path) -> list[str]:
    """Write the bad-image corpus (and a few good files); return the input list."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    rgb = Image.fromarray(noise)
    jpeg = _encode(rgb, "JPEG", quality=90)
    png = _encode(rgb, "PNG")
    bad_crc = bytearray(png)
    bad_crc[60] ^= 0xFF
    frames = [Image.fromarray(np.roll(noise, k, axis=1)).convert("P") for k in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    files = {
        "good.jpg": jpeg,
        "good.png": png,
        "empty.jpg": b"",
        "text.png": b"hello, not an image\n" * 20,
        "random.jpg": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated.jpg": jpeg[: len(jpeg) // 3],
        "header_only.jpg": jpeg[:200],
        "bad_crc.png": bytes(bad_crc),
        "bomb.png": _bomb_png(60000, 60000),
        "png_named.jpg": png,
        "animated.gif": gif.getvalue(),
        "one_pixel.png": _encode(Image.new("RGB", (1, 1), (5, 6, 7)), "PNG"),
        "sliver.png": _encode(Image.fromarray(noise[:1].repeat(4, axis=1)), "PNG"),
        "sixteen_bit.png": _encode(Image.fromarray(noise[..., 0].astype(np.uint16) * 257), "PNG"),
        "cmyk.jpg": _encode(rgb.convert("CMYK"), "JPEG"),
        "alpha.png": _encode(rgb.convert("RGBA"), "PNG"),
        "float.tif": _encode(Image.fromarray(noise[..., 0].astype(np.float32) / 255), "TIFF"),
        "truncated.bmp": _encode(rgb, "BMP")[:500],
        "webp.webp": _encode(rgb, "WEBP"),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    os.mkfifo(folder / "fifo.jpg")
    (folder / "dir.jpg").mkdir()
    (folder / "dangling.jpg").symlink_to(folder / "gone.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    return [str(folder / n) for n in files] + [
        str(folder / n) for n in ("fifo.jpg", "dir.jpg", "dangling.jpg", "loop.jpg")
    ]


def _accounted(inputs, feats: pd.DataFrame, fails: pd.DataFrame) -> None:
    """Every input has features or a recorded reason; every reason is one clear line."""
    empty = feats.isna().all(axis=1).to_numpy()
    failed = set(fails["path"])
    lost = [p for p, e in zip(inputs, empty) if e and p not in failed]
    assert not lost, f"inputs without features or reason: {lost}"
    assert fails["reason"].map(lambda r: bool(r) and "\n" not in r).all()


@pytest.mark.timeout(240)
def test_bad_image_corpus_and_special_files(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    inputs = [*_corpus(folder), "/dev/zero"]
    extractor = ImageFeatures(groups=("cnn", "fft", "meta")).fit()
    feats, fails = extract_table(inputs, extractor, cache_dir=tmp_path / "cache", chunk_size=8)
    _accounted(inputs, feats, fails)
    reasons = dict(zip(fails["path"], fails["reason"]))
    assert "FIFO" in reasons[str(folder / "fifo.jpg")]
    assert "directory" in reasons[str(folder / "dir.jpg")]
    assert "dangling" in reasons[str(folder / "dangling.jpg")]
    assert "symbolic links" in reasons[str(folder / "loop.jpg")]
    assert "character device" in reasons["/dev/zero"]
    assert "decompression bomb" in reasons[str(folder / "bomb.png")]
    for good in ("good.jpg", "good.png", "png_named.jpg", "cmyk.jpg", "webp.webp"):
        assert feats.iloc[inputs.index(str(folder / good))].notna().sum() > 500
    again, fails2 = extract_table(inputs, extractor, cache_dir=tmp_path / "cache", chunk_size=8)
    pd.testing.assert_frame_equal(again, feats, check_like=False)
    assert sorted(fails2["path"]) == sorted(fails["path"])
    # special files are never cached (not a function of the bytes): rechecked every run
    assert again.attrs["n_extracted"] == 0


@pytest.mark.timeout(240)
def test_extract_folder_puts_skipped_entries_in_the_error_table(tmp_path, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    listed = _corpus(folder)
    out = tmp_path / "out" / "feats.parquet"
    assert main(["extract", str(folder), "--out", str(out), "--groups", "fft,meta", "-q"]) == 0
    feats = pd.read_parquet(out)
    errors = pd.read_csv(out.with_name("feats.errors.csv"))
    names = {Path(p).name for p in listed}
    assert {Path(p).name for p in feats["path"]} | {Path(p).name for p in errors["path"]} == names
    for special in ("fifo.jpg", "dir.jpg", "dangling.jpg", "loop.jpg"):
        assert special in {Path(p).name for p in errors["path"]}
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder / 'good.png'}\n/dev/zero\n{folder / 'fifo.jpg'}\n")
    out2 = tmp_path / "out2" / "feats.parquet"
    assert main(["extract", str(listing), "--out", str(out2), "--groups", "fft", "-q"]) == 0
    assert len(pd.read_parquet(out2)) == 1
    assert len(pd.read_csv(out2.with_name("feats.errors.csv"))) == 2
    out3 = tmp_path / "out3" / "feats.parquet"  # a FIFO as the INPUT itself
    fifo_input = ["extract", str(folder / "fifo.jpg"), "--out", str(out3), "--groups", "fft"]
    assert main([*fifo_input, "-q"]) == 3
    assert "FIFO" in pd.read_csv(out3.with_name("feats.errors.csv"))["reason"][0]


# ----------------------------------------------------------------------------- runs
def _extract_cmd(data, out, cache, *extra):
    return [
        sys.executable,
        "-m",
        "deepfeat.cli",
        "extract",
        str(data),
        "--out",
        str(out),
        "--cache",
        str(cache),
        "--groups",
        "fft,meta",
        "-q",
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_concurrent_runs_on_one_out_and_one_cache(tmp_path, demo_dir):
    """Two runs on one --out used to leave an unreadable parquet or the other run's columns."""
    cache = tmp_path / "cache"
    out, other = tmp_path / "a" / "feats.parquet", tmp_path / "b" / "feats.parquet"
    cmds = [_extract_cmd(demo_dir, out, cache)] * 2 + [_extract_cmd(demo_dir, other, cache)]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in cmds]
    results = [(p.communicate(timeout=240)[1].decode(), p.returncode)[::-1] for p in procs]
    for code, err in results:
        assert code == 0 or (code == 1 and "being written by another deepfeat run" in err), err
    assert results[2][0] == 0 and 0 in (results[0][0], results[1][0])
    a = pd.read_parquet(out).sort_values("path").reset_index(drop=True)
    b = pd.read_parquet(other).sort_values("path").reset_index(drop=True)
    assert len(a) == 60
    pd.testing.assert_frame_equal(a, b)  # a shared cache stays correct
    assert not list(cache.rglob("*.tmp")) and not list(out.parent.glob(".*"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_during_the_parquet_write_keeps_the_old_output(tmp_path, demo_dir):
    out = tmp_path / "run" / "feats.parquet"
    cache = tmp_path / "cache"
    few = tmp_path / "few.txt"
    few.write_text("\n".join(load_dataset(demo_dir)["path"][:5]))
    assert main(["extract", str(few), "--out", str(out), "--cache", str(cache), "-q"]) == 0
    old = out.read_bytes()
    cmd = _extract_cmd(demo_dir, out, tmp_path / "cache2", "--chunk-size", "4", "--batch-size", "4")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if list(out.parent.glob(f".{out.name}.*.tmp")):  # the parquet is being written
            break
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert list(out.parent.glob(f".{out.name}.*.tmp")), "the kill did not land mid-write"
    assert out.read_bytes() == old  # the previous output is untouched
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr  # the dead run's lock does not block
    assert len(pd.read_parquet(out)) == 60
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "feats.parquet"
    ]  # no failure: no errors file


# ----------------------------------------------------------------------------- fuzzing
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, demo_dir):
    """A saved fft+meta detector with its extractor (no CNN: keeps each load fast)."""
    df = load_dataset(demo_dir)
    det = DeepfakeDetector(
        feature_groups=("fft", "meta"), n_estimators=8, audit=False, calibration="isotonic"
    ).fit(df)
    root = tmp_path_factory.mktemp("fuzz")
    path = det.save(root / "model")
    return path, json.loads((path / "card.json").read_text())


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):
            yield from _paths(v, (*prefix, i))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


def _mutate(card, path, op, value):
    card = json.loads(json.dumps(card))
    if not path:
        return value if op == "replace" else card
    node = card
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if op == "delete":
        del node[last]
    elif op == "replace":
        node[last] = value
    elif isinstance(node[last], dict):
        node[last]["zz_extra"] = value
    elif isinstance(node[last], list):
        node[last].append(value)
    else:
        node[last] = [node[last], value]
    return card


def _load_or_refuse(folder: Path, data: bytes) -> None:
    (folder / "card.json").write_bytes(data)
    try:
        det = DeepfakeDetector.load(folder)
    except ModelFileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(folder))
        return
    assert det.threshold == det.threshold  # loaded: usable numbers


@pytest.mark.timeout(300)
def test_fuzzed_cards_load_or_raise_model_file_error(saved_model, tmp_path):
    path, card = saved_model
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.ubj").write_bytes((path / "model.ubj").read_bytes())
    paths = list(_paths(card))

    @settings(
        max_examples=400,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        edits=st.lists(
            st.tuples(
                st.sampled_from(paths),
                st.sampled_from(["replace", "delete", "extend"]),
                _JSON,
            ),
            min_size=1,
            max_size=3,
        )
    )
    def check(edits):
        mutated = card
        for where, op, value in edits:
            try:
                mutated = _mutate(mutated, where, op, value)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier edit removed that path
        _load_or_refuse(folder, json.dumps(mutated).encode())

    check()


@pytest.mark.timeout(120)
def test_fuzzed_card_bytes_load_or_raise_model_file_error(saved_model, tmp_path):
    path, card = saved_model
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.ubj").write_bytes((path / "model.ubj").read_bytes())
    text = json.dumps(card).encode()

    @settings(max_examples=100, deadline=None, database=None)
    @given(cut=st.integers(0, len(text)), junk=st.binary(max_size=16), raw=st.binary())
    def check(cut, junk, raw):
        _load_or_refuse(folder, text[:cut] + junk + text[cut:])
        _load_or_refuse(folder, raw)

    check()


_UBJ_FUZZ = textwrap.dedent(
    """
    import hashlib, json, random, shutil, sys
    from pathlib import Path
    import numpy as np
    from deepfeat import DeepfakeDetector
    from deepfeat.detector import ModelFileError

    src, work, seed, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    raw = (src / "model.ubj").read_bytes()
    card = json.loads((src / "card.json").read_text())
    shutil.copytree(src, work)
    X = np.random.default_rng(0).normal(size=(4, len(card["feature_names"])))
    import pandas as pd
    table = pd.DataFrame(X, columns=card["feature_names"])
    loaded = 0
    for i in range(n):
        rng = random.Random(seed * 100003 + i)
        d = bytearray(raw)
        op = i % 4
        if op == 0:
            d = d[: rng.randrange(1, len(d))]
        elif op == 1:
            for _ in range(rng.randint(1, 4)):
                d[rng.randrange(len(d))] = rng.randrange(256)
        elif op == 2:
            a = rng.randrange(len(d)); del d[a : a + rng.randint(1, 40)]
        else:
            a = rng.randrange(len(d)); d[a:a] = rng.randbytes(rng.randint(1, 16))
        card["model_sha256"] = hashlib.sha256(bytes(d)).hexdigest()
        (work / "model.ubj").write_bytes(bytes(d))
        (work / "card.json").write_text(json.dumps(card))
        print(seed, i, flush=True)  # the last line names the case if the process dies
        try:
            det = DeepfakeDetector.load(work)
        except ModelFileError:
            continue
        det.predict_proba(table)
        loaded += 1
    print("done", loaded)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_fuzzed_model_bytes_never_crash_the_interpreter(saved_model, tmp_path):
    """A 0-byte model.ubj aborted Python; a few changed bytes segfaulted XGBoost."""
    path, _ = saved_model
    seed = random.SystemRandom().randrange(1 << 30)
    script = tmp_path / "fuzz.py"
    script.write_text(_UBJ_FUZZ)
    result = subprocess.run(
        [sys.executable, str(script), str(path), str(tmp_path / "w"), str(seed), "800"],
        capture_output=True,
        text=True,
        timeout=280,
    )
    last = (result.stdout.strip().splitlines() or ["<no output>"])[-1]
    assert result.returncode == 0 and last.startswith("done"), (
        f"exit {result.returncode} at case 'seed i' = {last!r}: {result.stderr[-2000:]}"
    )


def test_fuzz_model_has_a_card_to_mutate(saved_model):
    path, card = saved_model
    assert card["extractor"]["transformers"].keys() == {"fft", "meta"}
    assert hashlib.sha256((path / "model.ubj").read_bytes()).hexdigest() == card["model_sha256"]
