"""A verdict per video: aggregation, ``predict_video`` and ``deepfeat predict`` on clips.

The round trip runs on clips of the demo images: ``deepfeat faces`` → ``load_dataset`` →
``deepfeat train`` → ``deepfeat predict`` on a video.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_video_faces import make_demo_clips

from deepfeat import DeepfakeDetector, aggregate_scores, load_dataset, predict_video
from deepfeat.cli import main
from deepfeat.video._faces import video_inputs
from deepfeat.video._predict import selected_frames


def test_aggregations_by_hand():
    p = [0.1, 0.2, 0.9, float("nan")]
    assert aggregate_scores(p, "mean") == pytest.approx(0.4)
    z = np.mean([math.log(q / (1 - q)) for q in p[:3]])
    assert aggregate_scores(p, "logit") == pytest.approx(1 / (1 + math.exp(-z)))
    assert aggregate_scores(p, "topk", top_k=0.5) == pytest.approx((0.9 + 0.2) / 2)
    assert aggregate_scores(p, "topk", top_k=0.01) == pytest.approx(0.9)  # at least one
    assert math.isnan(aggregate_scores([float("nan")], "mean"))
    assert math.isnan(aggregate_scores([], "logit"))
    assert aggregate_scores([0.0, 1.0], "logit") == pytest.approx(0.5)  # clipped, finite
    assert list(selected_frames(np.array(p), "topk", 0.5)) == [2, 1]


@pytest.mark.parametrize("how", ["mean", "logit", "topk"])
def test_aggregations_stay_in_the_range_of_their_frames(how):
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 1, size=int(rng.integers(1, 20)))
        a = aggregate_scores(p, how)
        assert p.min() - 1e-12 <= a <= p.max() + 1e-12


def test_bad_aggregate_is_refused():
    with pytest.raises(ValueError, match="aggregate"):
        aggregate_scores([0.5], "median")
    with pytest.raises(ValueError, match="top_k"):
        aggregate_scores([0.5], "topk", top_k=0)


# ------------------------------------------------------------------ the round trip


@pytest.fixture(scope="module")
def trip(tmp_path_factory):
    """faces → load_dataset → train (command line), on clips of the demo images."""
    root = tmp_path_factory.mktemp("trip")
    clips = make_demo_clips(root, n_images=24, frames=6)
    faces = root / "faces"
    assert main(["faces", str(clips), "--out", str(faces), "--frames", "4", "--whole-frame"]) == 0
    df = load_dataset(faces)
    assert df.attrs["layout"] == "dfdc" and len(df) == 96 and df["group"].nunique() == 12
    model = root / "model"
    code = main(["train", str(faces), "--out", str(model), "--groups", "fft,meta", "-q"])
    assert code == 0
    return clips, model


@pytest.mark.slow
def test_predict_one_video_prints_one_json_object(trip, capsys):
    clips, model = trip
    clip = video_inputs([clips])[0]
    capsys.readouterr()
    assert main(["predict", str(model), clip, "--whole-frame", "--frames", "5"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["path"] == clip and row["kind"] == "video" and row["frames_scored"] == 5
    assert 0.0 <= row["probability_fake"] <= 1.0 and row["label"] in ("real", "fake")
    assert row["frames_failed"] == 0 and row["error"] == "" and row["aggregate"] == "mean"
    assert {"contrib_fft", "contrib_meta", "contrib_bias"} <= set(row)


@pytest.mark.slow
def test_predict_video_rows_frames_and_contributions(trip):
    clips, model = trip
    det = DeepfakeDetector.load(model)
    videos = video_inputs([clips])[:5]
    res = det.predict_video(videos, frames=4, crop_faces=False, batch_videos=2)
    frames = res.attrs["frames"]
    assert list(res["path"]) == videos and (res["frames_scored"] == 4).all()
    assert len(frames) == 20 and frames["error"].eq("").all()
    for video, row in zip(videos, res.to_dict("records")):
        fr = frames[frames["path"] == video]
        assert row["probability_fake"] == pytest.approx(
            aggregate_scores(fr["probability_fake"], "mean")
        )
        contrib = sum(row[c] for c in row if c.startswith("contrib_"))
        assert contrib == pytest.approx(fr["margin"].mean(), abs=1e-5)  # the mean margin
    logit = predict_video(det, videos[:2], frames=4, crop_faces=False, aggregate="logit")
    for video, p in zip(logit["path"], logit["probability_fake"]):
        fr = frames[frames["path"] == video]["probability_fake"]
        assert p == pytest.approx(aggregate_scores(fr, "logit"))
        assert row["label"] == ("fake" if row["probability_fake"] >= det.threshold else "real")
    # the frames are scored as the layout's files would be: same crops, same encoding
    faces = load_dataset(clips.parent / "faces")
    first = faces[faces["path"].str.contains(Path(videos[0]).stem + "_")]
    from_layout = det.predict_proba(first)[:, 1]
    fr = frames[frames["path"] == videos[0]]
    # 4 frames of 6 in both; same sampling, so the same four frames
    assert sorted(first["frame"]) == sorted(fr["frame"])
    assert np.allclose(np.sort(from_layout), np.sort(fr["probability_fake"]), atol=1e-6)
    mean = predict_video(det, videos[:2], frames=4, crop_faces=False, aggregate="mean")
    topk = predict_video(det, videos[:2], frames=4, crop_faces=False, aggregate="topk")
    for how, table in (("mean", mean), ("topk", topk)):
        for video, p in zip(table["path"], table["probability_fake"]):
            fr = frames[frames["path"] == video]["probability_fake"]
            assert p == pytest.approx(aggregate_scores(fr, how))


@pytest.mark.slow
def test_corrupt_clip_gets_its_reason_and_the_batch_goes_on(trip, tmp_path, capsys):
    clips, model = trip
    good = video_inputs([clips])[0]
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(good, folder / Path(good).name)
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(1).bytes(4000))
    (folder / "empty.avi").write_bytes(b"")
    image = next((clips.parent / "images" / "real").iterdir())
    shutil.copy(image, folder / image.name)  # images and videos in one folder
    out = tmp_path / "pred.csv"
    code = main(
        ["predict", str(model), str(folder), "--whole-frame", "--frames", "3", "--out", str(out)]
    )
    assert code == 0
    table = pd.read_csv(out, keep_default_na=False)
    by_name = {Path(p).name: r for p, r in zip(table["path"], table.to_dict("records"))}
    assert set(by_name) == {Path(good).name, "corrupt.mp4", "empty.avi", image.name}
    assert (
        by_name["corrupt.mp4"]["probability_fake"] == ""
        and "cannot open" in by_name["corrupt.mp4"]["error"]
    )
    assert "empty" in by_name["empty.avi"]["error"]
    assert by_name[Path(good).name]["frames_scored"] == "3"
    assert by_name[image.name]["kind"] == "image" and by_name[image.name]["probability_fake"] != ""
    # only bad clips: nothing usable, exit code 3, still one row each
    capsys.readouterr()
    assert (
        main(["predict", str(model), str(folder / "corrupt.mp4"), str(folder / "empty.avi")]) == 3
    )
    assert capsys.readouterr().out.count("\n") == 3  # header + two rows


@pytest.mark.slow
def test_per_frame_rows(trip, tmp_path, capsys):
    clips, model = trip
    clip = video_inputs([clips])[0]
    capsys.readouterr()
    assert main(["predict", str(model), clip, "--whole-frame", "--frames", "3", "--per-frame"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert len(row["frames"]) == 3 and all(f["kind"] == "frame" for f in row["frames"])
    assert [f["frame"] for f in row["frames"]] == sorted(f["frame"] for f in row["frames"])
    out = tmp_path / "p.csv"
    assert (
        main(
            [
                "predict",
                str(model),
                clip,
                clip,
                "--whole-frame",
                "--frames",
                "2",
                "--per-frame",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out)
    assert list(table["kind"]) == ["video", "frame", "frame"] * 2


@pytest.mark.slow
def test_no_face_frames_fail_the_video_with_the_reason(trip, tmp_path):
    """With face cropping on, the demo clips (no detectable face) have no score and say why."""
    from test_video_faces import needs_mtcnn

    needs_mtcnn()
    clips, model = trip
    det = DeepfakeDetector.load(model)
    res = det.predict_video(video_inputs([clips])[:1], frames=2)
    assert res["frames_scored"].tolist() == [0] and res["frames_failed"].tolist() == [2]
    assert "no face" in res["error"][0] and math.isnan(res["probability_fake"][0])


# ------------------------------------------------------------------ the README's commands


def _readme_video_commands() -> list[str]:
    import re

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Videos", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```sh\n(.*?)^```", section, re.S | re.M).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.mark.realdata
@pytest.mark.slow
def test_readme_video_commands_run_verbatim(tmp_path):
    """The README's Videos block, on clips of real DFDC faces (MTCNN finds them)."""
    import os
    import shlex
    import subprocess
    import sys

    from conftest import face_scene_frames, shared_dir, write_clip
    from PIL import Image
    from test_video_faces import needs_mtcnn

    needs_mtcnn()
    dfdc = shared_dir("dfdc_faces")
    table = pd.read_csv(dfdc / "metadata.csv")
    reals = set(table.loc[table["label"] == "REAL", "videoname"])
    fakes = table[(table["label"] == "FAKE") & table["original"].isin(reals)].head(4)
    pick = pd.concat([table[table["videoname"].isin(fakes["original"])], fakes])
    part = tmp_path / "dfdc_train_part_0"
    part.mkdir()
    meta = {}

    def face(name):
        return np.asarray(
            Image.open(dfdc / "faces_224" / (Path(name).stem + ".jpg")).convert("RGB")
        )

    for i, rec in enumerate(pick.to_dict("records")):
        write_clip(
            part / rec["videoname"], face_scene_frames(face(rec["videoname"]), 24, seed=i), "mp4v"
        )
        meta[rec["videoname"]] = {"label": rec["label"]}
        if rec["label"] == "FAKE":
            meta[rec["videoname"]]["original"] = rec["original"]
    (part / "metadata.json").write_text(json.dumps(meta))
    other = table[~table["videoname"].isin(pick["videoname"])].head(2)["videoname"].tolist()
    write_clip(tmp_path / "clip.mp4", face_scene_frames(face(other[0]), 24), "mp4v")
    (tmp_path / "clips").mkdir()
    write_clip(tmp_path / "clips" / "b.mp4", face_scene_frames(face(other[1]), 24), "mp4v")
    (tmp_path / "photos").mkdir()
    shutil.copy(dfdc / "faces_224" / (Path(other[1]).stem + ".jpg"), tmp_path / "photos" / "p.jpg")
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    commands = _readme_video_commands()
    assert [c.split()[1] for c in commands] == ["faces", "train", "predict", "predict"]
    outputs = []
    for command in commands:
        result = subprocess.run(
            shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout)
    assert load_dataset(tmp_path / "faces")["group"].nunique() == fakes["original"].nunique()
    row = json.loads(outputs[2])
    assert row["frames_scored"] == 16 and 0 <= row["probability_fake"] <= 1
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert list(preds["kind"]).count("video") == 1 and list(preds["kind"]).count("image") == 1
    assert list(preds["kind"]).count("frame") == 16
