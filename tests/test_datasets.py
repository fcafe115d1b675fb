"""load_dataset layouts, the leak-column rule, and the demo data set."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfeat import load_dataset, load_image, make_demo_dataset
from deepfeat.datasets import list_images, sanitize_name


def _img(path, value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, value, value)).save(path)


def _make_dfdc(root, with_missing=True):
    rows = [
        ("aaa.mp4", 186, 185, "REAL", ""),
        ("bbb.mp4", 129, 129, "FAKE", "aaa.mp4"),
        ("ccc.mp4", 90, 89, "FAKE", "aaa.mp4"),
        ("ddd.mp4", 300, 301, "REAL", ""),
        ("eee.mp4", 200, 200, "FAKE", "ddd.mp4"),
    ]
    if with_missing:
        rows.append(("zzz.mp4", 10, 10, "FAKE", "ddd.mp4"))
    pd.DataFrame(
        rows, columns=["videoname", "original_width", "original_height", "label", "original"]
    ).to_csv(root / "metadata.csv", index=False)
    for name, *_ in rows[:5]:
        _img(root / "faces_224" / name.replace(".mp4", ".jpg"))
    return root


def test_dfdc_layout(tmp_path, caplog):
    root = _make_dfdc(tmp_path)
    with caplog.at_level(logging.WARNING):
        df = load_dataset(root)
    assert df.attrs["layout"] == "dfdc"
    assert list(df.columns) == ["path", "label", "group", "original_width", "original_height"]
    assert "original" not in df.columns  # leaks the label: only ever a group
    assert df["label"].tolist() == [0, 1, 1, 0, 1]
    # a fake and its source video share a group
    assert df["group"].tolist() == ["aaa.mp4", "aaa.mp4", "aaa.mp4", "ddd.mp4", "ddd.mp4"]
    assert df.attrs["missing"] == ["zzz.mp4"]
    assert "1 rows have no image" in caplog.text and "zzz.mp4" in caplog.text
    assert all(p.startswith("/") for p in df["path"])


def test_folder_per_class_layout(tmp_path, caplog):
    for cls, n in (("Real", 2), ("AI", 3), ("Synthetic", 1), ("notes", 1)):
        for i in range(n):
            _img(tmp_path / cls / f"sub/{i}.png")
    with caplog.at_level(logging.WARNING):
        df = load_dataset(tmp_path)
    assert df.attrs["layout"] == "folders"
    assert sorted(df["label"].tolist()) == [0, 0, 1, 1, 1, 1]
    assert "notes" in caplog.text
    assert df["group"].nunique() == len(df)


def test_folder_class_map(tmp_path):
    for cls in ("camera", "stylegan"):
        _img(tmp_path / cls / "a.jpg")
    with pytest.raises(ValueError, match="cannot detect"):
        load_dataset(tmp_path)
    df = load_dataset(tmp_path, layout="folders", class_map={"camera": 0, "stylegan": 1})
    assert df.sort_values("label")["label"].tolist() == [0, 1]


def test_manifest_layout(tmp_path):
    _img(tmp_path / "imgs" / "a.jpg")
    _img(tmp_path / "imgs" / "b.jpg")
    _img(tmp_path / "imgs" / "c.jpg")
    pd.DataFrame(
        {
            "path": ["imgs/a.jpg", "imgs/b.jpg", "imgs/c.jpg", "imgs/missing.jpg"],
            "label": ["real", "FAKE", 1, 0],
            "pair_group": ["g1", "g1", "g2", "g3"],
            "quality": [90, 80, 70, 60],
        }
    ).to_csv(tmp_path / "list.csv", index=False)
    df = load_dataset(tmp_path / "list.csv")
    assert df.attrs["layout"] == "manifest"
    assert df["label"].tolist() == [0, 1, 1]
    assert df["group"].tolist() == ["g1", "g1", "g2"]
    assert df["quality"].tolist() == [90, 80, 70]
    assert df.attrs["missing"] == ["imgs/missing.jpg"]


def test_manifest_bad_label(tmp_path):
    _img(tmp_path / "a.jpg")
    pd.DataFrame({"path": ["a.jpg"], "label": ["maybe"]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ValueError, match="unknown label 'maybe'"):
        load_dataset(tmp_path / "m.csv")


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "nope")
    with pytest.raises(ValueError, match="layout"):
        load_dataset(tmp_path, layout="kaggle")


def test_demo_dataset_is_deterministic_and_imbalanced(tmp_path):
    a = make_demo_dataset(tmp_path / "a", n_images=20, random_state=3)
    b = make_demo_dataset(tmp_path / "b", n_images=20, random_state=3)
    c = make_demo_dataset(tmp_path / "c", n_images=20, random_state=4)

    def digest(root):
        h = hashlib.sha256()
        for p in sorted(root.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
        return h.hexdigest()

    assert digest(a) == digest(b)
    assert digest(a) != digest(c)
    df = load_dataset(a)
    assert len(df) == 20
    assert df["label"].mean() == pytest.approx(0.8)
    # every fake shares its group with a real source image
    real_groups = set(df.loc[df.label == 0, "group"])
    assert set(df.loc[df.label == 1, "group"]) <= real_groups
    img = load_image(df["path"].iloc[0])
    assert img.shape == (128, 128, 3)


def test_demo_fakes_carry_upsampling_and_no_camera_exif(tmp_path):
    root = make_demo_dataset(tmp_path, n_images=10, random_state=0)
    df = load_dataset(root)
    with Image.open(df.loc[df.label == 0, "path"].iloc[0]) as real:
        assert real.getexif().get(0x010F)  # Make
    with Image.open(df.loc[df.label == 1, "path"].iloc[0]) as fake:
        assert not fake.getexif().get(0x010F)

    # up-sampling leaves less energy at the highest frequencies than camera images have
    def hf_share(path):
        g = load_image(path).mean(axis=2)
        f = np.abs(np.fft.fftshift(np.fft.fft2(g - g.mean()))) ** 2
        n = g.shape[0]
        yy, xx = np.mgrid[:n, :n] - n // 2
        r = np.hypot(yy, xx) / n
        return f[r > 0.35].sum() / f.sum()

    reals = [hf_share(p) for p in df.loc[df.label == 0, "path"]]
    fakes = [hf_share(p) for p in df.loc[df.label == 1, "path"]]
    assert np.median(fakes) < np.median(reals)


def test_demo_dataset_arguments(tmp_path):
    with pytest.raises(ValueError):
        make_demo_dataset(tmp_path, n_images=2)
    with pytest.raises(ValueError):
        make_demo_dataset(tmp_path, n_images=10, fake_fraction=1.0)


def test_sanitize_name():
    assert sanitize_name("Original Width (px)") == "original_width_px"
    assert sanitize_name("__") == "x"


@pytest.mark.realdata
def test_real_dfdc_layout(dfdc_dir):
    df = load_dataset(dfdc_dir)
    assert df.attrs["layout"] == "dfdc"
    assert "original" not in df.columns
    counts = df["label"].value_counts()
    assert counts[0] == 985 and counts[1] == 1907
    manifest = pd.read_csv(dfdc_dir / "manifest.csv")
    by_path = dict(zip(manifest["path"], manifest["pair_group"]))
    rel = [p.split(str(dfdc_dir) + "/")[1] for p in df["path"]]
    assert [by_path[r] for r in rel] == df["group"].tolist()


@pytest.mark.realdata
def test_real_k140_layouts(k140_dir):
    df = load_dataset(k140_dir)  # manifest.csv present
    assert df.attrs["layout"] == "manifest"
    assert (df["label"] == 0).sum() == 536 and (df["label"] == 1).sum() == 544
    folders = load_dataset(k140_dir, layout="folders")
    assert sorted(folders["path"]) == sorted(df["path"])


def test_paths_keep_symlinks_and_duplicates_are_reported(tmp_path, caplog):
    """A dataset reached through a symlink keeps the link in its paths (no resolution)."""
    from deepfeat.datasets import duplicate_paths, list_images

    real = make_demo_dataset(tmp_path / "real_place", n_images=10)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    df = load_dataset(link)
    assert all(p.startswith(str(link) + os.sep) for p in df["path"])
    assert df.attrs["duplicates"] == {}
    img = Path(df["path"].iloc[0])
    (img.parent / "alias.jpg").symlink_to(img)
    listed = list_images(link)
    assert str(img.parent / "alias.jpg") in listed and all(p.startswith(str(link)) for p in listed)
    dups = duplicate_paths(listed)
    assert dups == {str(img.parent / "alias.jpg"): str(img)} or dups == {
        str(img): str(img.parent / "alias.jpg")
    }
    with caplog.at_level("WARNING"):
        folders = load_dataset(link, layout="folders")
    assert len(folders.attrs["duplicates"]) == 1 and "same file" in caplog.text


@pytest.mark.realdata
def test_real_dfdc_layout_through_a_symlinked_shared_folder(dfdc_dir, tmp_path):
    """`../shared` may be a symlink: the loaded paths stay under the link."""
    shared = tmp_path / "shared"
    shared.symlink_to(dfdc_dir.parent, target_is_directory=True)
    df = load_dataset(shared / dfdc_dir.name)
    assert len(df) == 2892
    manifest = pd.read_csv(dfdc_dir / "manifest.csv")
    by_path = dict(zip(manifest["path"], manifest["pair_group"]))
    rel = [p.split(str(shared / dfdc_dir.name) + "/")[1] for p in df["path"]]
    assert [by_path[r] for r in rel] == df["group"].tolist()


@pytest.mark.timeout(30)
def test_list_images_keeps_special_entries_for_the_error_table(tmp_path):
    """FIFOs, dirs named x.jpg, dangling and looping links used to vanish silently."""
    import os

    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    _img(real / "a.png", 10)
    os.mkfifo(real / "fifo.jpg")
    (real / "dir.jpg").mkdir()
    (real / "dangling.jpg").symlink_to(real / "gone.jpg")
    (real / "loop.jpg").symlink_to(real / "loop.jpg")
    (real / "sub" / "up").symlink_to(real)  # a folder loop: not followed
    names = sorted(Path(p).name for p in list_images(real))
    assert names == ["a.png", "dangling.jpg", "dir.jpg", "fifo.jpg", "loop.jpg"]
    fake = tmp_path / "fake"
    fake.mkdir()
    _img(fake / "b.png", 200)
    df = load_dataset(tmp_path)  # the folders layout lists the same entries, labelled
    assert len(df) == 6 and set(df["label"]) == {0, 1}
