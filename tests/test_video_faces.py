"""``write_face_layout`` / ``deepfeat faces``: videos to the faces_224 + metadata.csv layout.

The always-run tests make clips of the package's demo images (``crop_faces=False``: the demo
images have no face MTCNN finds, see ``test_demo_images_have_no_detectable_face``); the
``realdata`` ones paste DFDC face crops from ``../shared/data`` into noisy scenes, so MTCNN
has real faces to find.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import face_scene_frames, jittered_frames, write_clip
from PIL import Image

from deepfeat import FaceCropper, load_dataset, write_face_layout
from deepfeat.cli import main
from deepfeat.video._faces import LAYOUT_COLUMNS, face_frames, video_inputs

N_FRAMES = 6


def needs_mtcnn() -> None:
    from deepfeat.face._mtcnn import mtcnn_model_dir

    try:
        mtcnn_model_dir()
    except ImportError:
        pytest.skip("MTCNN weights not installed: pip install deepfeat[face]")


def make_demo_clips(root: Path, n_images: int = 16, frames: int = 8, seed: int = 0) -> Path:
    """Clips of the demo images (one still image, jittered, per clip) with a DFDC
    ``metadata.json``: a fake's ``original`` is the clip of the real it was made from."""
    from deepfeat import make_demo_dataset

    demo = make_demo_dataset(
        root / "images", n_images=n_images, fake_fraction=0.5, random_state=seed
    )
    manifest = pd.read_csv(demo / "manifest.csv")
    videos = root / "videos"
    videos.mkdir(parents=True)
    real_of = {}
    for rec in manifest[manifest["label"] == "real"].to_dict("records"):
        real_of[rec["group"]] = Path(rec["path"]).stem + ".avi"
    meta = {}
    for i, rec in enumerate(manifest.to_dict("records")):
        image = np.asarray(Image.open(demo / rec["path"]).convert("RGB"))
        name = Path(rec["path"]).stem + (".avi" if rec["label"] == "real" or i % 2 else ".mp4")
        fourcc = "MJPG" if name.endswith(".avi") else "mp4v"
        write_clip(videos / name, jittered_frames(image, frames, seed=i), fourcc)
        if rec["label"] == "real":
            meta[name] = {"label": "REAL", "split": "train"}
        else:
            meta[name] = {"label": "FAKE", "split": "train", "original": real_of[rec["group"]]}
    (videos / "metadata.json").write_text(json.dumps(meta))
    return videos


@pytest.fixture(scope="module")
def demo_clips(tmp_path_factory) -> Path:
    return make_demo_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def layout(demo_clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("layout") / "faces"
    meta, fails, counts = write_face_layout(
        video_inputs([demo_clips]), out, frames=N_FRAMES, crop_faces=False
    )
    return out, meta, fails, counts


def test_layout_files_and_metadata(demo_clips, layout):
    out, _meta, fails, counts = layout
    n_videos = len(list_clips(demo_clips))
    assert counts == dict(
        videos=n_videos, processed=n_videos, cached=0, frames=n_videos * N_FRAMES, failed_videos=0
    )
    assert fails.empty
    on_disk = pd.read_csv(out / "metadata.csv")
    assert list(on_disk.columns) == LAYOUT_COLUMNS
    assert len(on_disk) == n_videos * N_FRAMES
    files = sorted(p.name for p in (out / "faces_224").iterdir())
    expected = sorted(
        f"{Path(v).stem}_{f}.jpg" for v, f in zip(on_disk["videoname"], on_disk["frame"])
    )
    assert files == expected
    with Image.open(out / "faces_224" / files[0]) as im:
        assert im.size == (224, 224) and im.format == "JPEG"
    assert set(on_disk["label"]) == {"REAL", "FAKE"}
    assert on_disk.loc[on_disk["label"] == "REAL", "original"].isna().all()
    assert on_disk.loc[on_disk["label"] == "FAKE", "original"].str.endswith(".avi").all()
    assert (on_disk["original_width"] == 128).all()  # the centre square of a 128² frame
    assert on_disk["face_score"].isna().all()  # no detector: no face score
    assert not any(p.name.endswith(".jpg") for p in demo_clips.iterdir())  # nothing beside


def list_clips(folder):
    return [p for p in Path(folder).iterdir() if p.suffix in (".avi", ".mp4")]


def test_load_dataset_reads_it_as_dfdc_with_a_group_per_source_video(demo_clips, layout):
    out = layout[0]
    df = load_dataset(out)
    assert df.attrs["layout"] == "dfdc" and len(df) == len(layout[1])
    assert {"frame", "face_score", "original_width"} <= set(df.columns)
    assert "original" not in df.columns  # the label leak stays out
    meta = json.loads((demo_clips / "metadata.json").read_text())
    for path, label, group in zip(df["path"], df["label"], df["group"]):
        video = Path(path).stem.rsplit("_", 1)[0]
        name = next(n for n in meta if Path(n).stem == video)
        assert label == (meta[name]["label"] == "FAKE")
        assert group == meta[name].get("original", name)  # a fake sits with its source
    # every frame of a video, and every fake of a source, on one side of a grouped split
    from deepfeat import grouped_splits

    videos = df["path"].map(lambda p: Path(p).stem.rsplit("_", 1)[0])
    for train, test in grouped_splits(df["label"].to_numpy(), df["group"].to_numpy(), n_splits=3):
        assert not set(videos.iloc[train]) & set(videos.iloc[test])


def test_rerun_skips_done_videos_and_redoes_changed_ones(demo_clips, tmp_path):
    videos = video_inputs([demo_clips])[:4]
    out = tmp_path / "faces"
    write_face_layout(videos, out, frames=3, crop_faces=False)
    crop = next((out / "faces_224").iterdir())
    stamp = crop.stat().st_mtime_ns
    meta2, _, counts = write_face_layout(videos, out, frames=3, crop_faces=False)
    assert counts["cached"] == 4 and counts["processed"] == 0 and len(meta2) == 12
    assert crop.stat().st_mtime_ns == stamp
    # other settings are other crops; a deleted crop or a changed video is done again
    _, _, counts = write_face_layout(videos, out, frames=2, crop_faces=False)
    assert counts["processed"] == 4
    write_face_layout(videos, out, frames=3, crop_faces=False)
    next(p for p in (out / "faces_224").iterdir() if p.name.endswith(".jpg")).unlink()
    _, _, counts = write_face_layout(videos, out, frames=3, crop_faces=False)
    assert counts["processed"] == 1 and counts["cached"] == 3


def test_killed_run_resumes(demo_clips, tmp_path, monkeypatch):
    """A run killed after two videos: the next run does only the others."""
    from deepfeat.video import _faces as _video_faces

    videos = video_inputs([demo_clips])[:5]
    out = tmp_path / "faces"
    real = _video_faces._one_video
    done = []

    def dies_on_the_third(*a, **k):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(1)
        return real(*a, **k)

    monkeypatch.setattr(_video_faces, "_one_video", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        write_face_layout(videos, out, frames=2, crop_faces=False)
    monkeypatch.setattr(_video_faces, "_one_video", real)
    with open(out / ".faces_journal.jsonl", "a") as fh:
        fh.write('{"key": "cut by the kill')  # a torn last line is ignored
    meta, _, counts = write_face_layout(videos, out, frames=2, crop_faces=False)
    assert (counts["cached"], counts["processed"]) == (2, 3) and len(meta) == 10


@pytest.mark.timeout(60)
def test_bad_videos_are_recorded_and_the_batch_goes_on(demo_clips, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    good = video_inputs([demo_clips])[0]
    (bad / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (bad / "empty.mkv").write_bytes(b"")
    data = Path(good).read_bytes()
    (bad / "cut.mp4").write_bytes(data[: len(data) // 3])
    (bad / "notes.txt").write_text("not a video")
    os.mkfifo(bad / "pipe.mp4")  # would block a reader forever
    sub = bad / "same"
    sub.mkdir()
    (sub / Path(good).name).write_bytes(data)  # a second clip with the same name stem
    inputs = [good, *video_inputs([bad]), str(bad / "notes.txt")]
    _meta, fails, counts = write_face_layout(inputs, tmp_path / "out", frames=3, crop_faces=False)
    assert counts["frames"] == 3 and counts["failed_videos"] == len(inputs) - 1
    reasons = dict(zip(fails["path"].map(lambda p: Path(p).name), fails["reason"]))
    assert "cannot open" in reasons["corrupt.mp4"] and "empty" in reasons["empty.mkv"]
    assert "not a video file ending '.txt'" in reasons["notes.txt"]
    assert "collide" in reasons[Path(good).name]
    assert "not a regular file" in reasons["pipe.mp4"]
    assert set(fails["stage"]) <= {"open", "decode", "name"}
    assert set(fails["path"]) | {good} == set(inputs)  # every video: crops or a reason


def test_labelless_videos_load_for_prediction(demo_clips, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for v in video_inputs([demo_clips])[:3]:
        (plain / Path(v).name).write_bytes(Path(v).read_bytes())
    meta, _, _ = write_face_layout(
        video_inputs([plain]), tmp_path / "out", frames=2, crop_faces=False
    )
    assert meta["label"].eq("").all() and meta["original"].eq("").all()
    df = load_dataset(tmp_path / "out")
    assert "label" not in df.columns and len(df) == 6 and df.attrs["layout"] == "dfdc"
    # partly labelled: the rows without a label are left out, and said so
    (plain / "metadata.json").write_text(
        json.dumps({Path(video_inputs([plain])[0]).name: {"label": "REAL"}})
    )
    write_face_layout(video_inputs([plain]), tmp_path / "out", frames=2, crop_faces=False)
    df = load_dataset(tmp_path / "out")
    assert list(df["label"]) == [0, 0] and len(df.attrs["unlabelled"]) == 4


def test_broken_metadata_json_is_a_recorded_reason(demo_clips, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    v = video_inputs([demo_clips])[0]
    (plain / Path(v).name).write_bytes(Path(v).read_bytes())
    (plain / "metadata.json").write_text("{not json")
    meta, fails, _ = write_face_layout(
        [str(plain / Path(v).name)], tmp_path / "o", frames=1, crop_faces=False
    )
    assert len(meta) == 1 and meta["label"].eq("").all()
    assert list(fails["stage"]) == ["labels"] and "unreadable" in fails["reason"][0]


def test_parameters_are_checked(tmp_path):
    with pytest.raises(ValueError, match="frames"):
        write_face_layout([], tmp_path, frames=0)
    with pytest.raises(ValueError, match="size"):
        write_face_layout([], tmp_path, size=8)
    with pytest.raises(ValueError, match="margin"):
        write_face_layout([], tmp_path, margin=-1)


def test_demo_images_have_no_detectable_face(demo_dir):
    """Why the always-run tests use ``crop_faces=False``: MTCNN finds no face in the demo
    images (a soft skin-coloured blob, not a face), so they cannot test face cropping."""
    needs_mtcnn()
    from deepfeat import load_image

    images = sorted((demo_dir / "real").iterdir())[:5]
    assert all(FaceCropper().detect(load_image(p)) == [] for p in images)


# ------------------------------------------------------------------ the command line


def test_faces_command_summary_errors_file_and_exit_codes(demo_clips, tmp_path, capsys):
    bad = tmp_path / "in"
    bad.mkdir()
    for v in video_inputs([demo_clips])[:2]:
        (bad / Path(v).name).write_bytes(Path(v).read_bytes())
    (bad / "broken.webm").write_bytes(b"\x1aE\xdf\xa3" + bytes(100))
    out = tmp_path / "faces"
    code = main(["faces", str(bad), "--out", str(out), "--frames", "2", "--whole-frame"])
    text = capsys.readouterr().out
    assert code == 0 and "4 face crops from 2 of 3 videos" in text
    errors = pd.read_csv(tmp_path / "faces.errors.csv")
    assert list(errors.columns) == ["path", "frame", "stage", "reason"]
    assert errors["path"].str.endswith("broken.webm").all()
    assert load_dataset(out).attrs["layout"] == "dfdc"
    # nothing usable: exit 3; no videos at all: a one-line user error
    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "x.mp4").write_bytes(b"junk")
    assert main(["faces", str(only_bad), "--out", str(tmp_path / "o2"), "--whole-frame"]) == 3
    (tmp_path / "none").mkdir()
    assert main(["faces", str(tmp_path / "none"), "--out", str(tmp_path / "o3")]) == 1
    assert "no videos" in capsys.readouterr().err


# ------------------------------------------------------------------ real faces (MTCNN)


@pytest.fixture(scope="module")
def face_clips(tmp_path_factory):
    from conftest import shared_dir

    needs_mtcnn()
    dfdc = shared_dir("dfdc_faces")
    table = pd.read_csv(dfdc / "metadata.csv")
    pick = pd.concat(
        [table[table["label"] == "REAL"].head(2), table[table["label"] == "FAKE"].head(2)]
    )
    root = tmp_path_factory.mktemp("faceclips")
    meta = {}
    for i, rec in enumerate(pick.to_dict("records")):
        face = np.asarray(
            Image.open(dfdc / "faces_224" / (Path(rec["videoname"]).stem + ".jpg")).convert("RGB")
        )
        write_clip(root / rec["videoname"], face_scene_frames(face, 30, seed=i), "mp4v")
        meta[rec["videoname"]] = {"label": rec["label"]}
        if rec["label"] == "FAKE":
            meta[rec["videoname"]]["original"] = rec["original"]
    blank = np.full((360, 480, 3), 128, np.uint8)
    write_clip(root / "noface.mp4", [blank] * 10, "mp4v")
    (root / "metadata.json").write_text(json.dumps(meta))
    return root, pick


@pytest.mark.realdata
@pytest.mark.slow
def test_mtcnn_crops_the_pasted_faces(face_clips, tmp_path):
    root, pick = face_clips
    meta, fails, counts = write_face_layout(video_inputs([root]), tmp_path / "f", frames=4)
    assert counts["frames"] == 16 and counts["failed_videos"] == 1
    assert (meta["face_score"] > 0.9).all()
    assert (meta["original_width"] <= 360).all() and (meta["original_width"] >= 100).all()
    no_face = fails[fails["path"].str.endswith("noface.mp4")]
    assert len(no_face) == 4 and set(no_face["stage"]) == {"face"}
    assert no_face["frame"].notna().all()
    df = load_dataset(tmp_path / "f")
    assert sorted(df["label"].value_counts().tolist()) == [8, 8]
    fakes = df[df["label"] == 1]
    assert set(fakes["group"]) == set(pick.loc[pick["label"] == "FAKE", "original"])


@pytest.mark.realdata
def test_face_frames_crop_is_square_and_resized(face_clips):
    root, pick = face_clips
    got = list(
        face_frames(
            root / pick["videoname"].iloc[0], frames=2, size=96, cropper=FaceCropper(no_face="skip")
        )
    )
    assert len(got) == 2 and all(f.crop.shape == (96, 96, 3) and f.score > 0.9 for f in got)


def test_video_inputs(tmp_path):
    with pytest.raises(FileNotFoundError):
        video_inputs([tmp_path / "nothing_here"])
    (tmp_path / "a.mp4").write_bytes(b"x")
    os.symlink(tmp_path / "gone.mp4", tmp_path / "dangling.mp4")
    assert sorted(Path(p).name for p in video_inputs([tmp_path])) == ["a.mp4", "dangling.mp4"]


def test_clips_cut_short_by_the_time_budget_are_not_cached(demo_clips, tmp_path):
    videos = video_inputs([demo_clips])[:2]
    out = tmp_path / "faces"
    meta, fails, _ = write_face_layout(videos, out, frames=2, crop_faces=False, time_budget=0.0)
    assert meta.empty and len(fails) == 4 and fails["reason"].str.contains("time budget").all()
    meta, fails, counts = write_face_layout(videos, out, frames=2, crop_faces=False)
    assert counts["processed"] == 2 and len(meta) == 4 and fails.empty
