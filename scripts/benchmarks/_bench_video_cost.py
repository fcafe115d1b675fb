"""Cost of videos: decode, decode + face crop, and whole predict_video, each in a child process
(time and peak memory), on clips made from real face crops."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _bench_common as bc
import numpy as np


# ----------------------------------------------------------------------------- cost
def _scene_clip(path: Path, face: np.ndarray, n: int, size: tuple[int, int]) -> Path:
    import cv2

    if path.is_file():
        return path
    rng = np.random.default_rng(n)
    h, w = size
    scene = np.clip(rng.normal(120, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    scene = cv2.GaussianBlur(scene, (5, 5), 0)
    side = min(h // 2, 2 * face.shape[0])
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    tmp = path.with_suffix(".tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
    for t in range(n):
        frame = scene.copy()
        y = h // 4 + int(10 * np.sin(t / 15))
        x = w // 3 + int(20 * np.cos(t / 20))
        frame[y : y + side, x : x + side] = big
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    tmp.rename(path)
    return path


#: Shared data and the cache of the video benchmark (``DEEPFEAT_SHARED_DATA``,
#: ``DEEPFEAT_BENCH_CACHE``).
SHARED_DATA = bc.SHARED_DATA
CACHE = bc.CACHE_ROOT / "video"


def _child(spec: dict) -> dict:
    """One measurement in this (fresh) process: seconds, frames, peak RSS."""
    from deepfeat import DeepfakeDetector, FaceCropper
    from deepfeat.video._faces import face_frames
    from deepfeat.video._io import read_frames

    videos, n = spec["videos"], spec["frames"]
    if spec["stage"] == "predict":
        det = DeepfakeDetector.load(spec["model"])
        det.predict_video(videos[:1], frames=2)  # warm-up: sessions made, not measured
    elif spec["stage"] == "crop":
        cropper = FaceCropper(no_face="skip")
        list(face_frames(videos[0], frames=1, cropper=cropper))
    else:
        list(read_frames(videos[0], 1))
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    ok = total = 0
    if spec["stage"] == "decode":
        for v in videos:
            for f in read_frames(v, n):
                total += 1
                ok += f.image is not None
    elif spec["stage"] == "crop":
        for v in videos:
            for f in face_frames(v, frames=n, cropper=cropper):
                total += 1
                ok += f.crop is not None
    else:
        res = det.predict_video(videos, frames=n)
        ok, total = (
            int(res["frames_scored"].sum()),
            int(res["frames_scored"].sum() + res["frames_failed"].sum()),
        )
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu0,
        "frames": total,
        "frames_ok": ok,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak RSS (``VmHWM``: reset by exec, unlike ``ru_maxrss``, which a
    child started by a large parent inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _measure(spec: dict) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("run.py")),
            "video",
            "--child",
            json.dumps(spec),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cost(quick: bool, model: Path) -> dict[str, Any]:
    from deepfeat import load_dataset, load_image

    df = load_dataset(SHARED_DATA / "dfdc_faces")
    face = load_image(df["path"].iloc[0])
    folder = CACHE / "scenes"
    folder.mkdir(parents=True, exist_ok=True)
    small = (360, 640)
    clips = {
        f"{n}x{'1080p' if size[0] == 1080 else '360p'}_{k}": _scene_clip(
            folder / f"c{n}_{size[0]}_{k}.mp4", face, n, size
        )
        for n, size, k in (
            [(150, small, k) for k in range(8 if quick else 16)]
            + [(1500, small, 0), (300, (1080, 1920), 0)]
            + ([] if quick else [(6000, small, 0)])
        )
    }
    short = [str(p) for name, p in clips.items() if name.startswith("150x")]
    speed = {}
    for clip_name in ("150x360p_0", "300x1080p_0"):
        for stage in ("decode", "crop", "predict"):
            videos = [str(clips[clip_name])] * (2 if quick else 4)
            r = _measure({"stage": stage, "videos": videos, "frames": 16, "model": str(model)})
            speed[f"{clip_name.split('_')[0]} {stage}"] = r
    memory = {}
    for n_videos in (1, 4, len(short)):
        r = _measure(
            {"stage": "predict", "videos": short[:n_videos], "frames": 16, "model": str(model)}
        )
        memory[f"{n_videos} video{'s' if n_videos > 1 else ''} × 150 frames"] = r
    for name in ("1500x360p_0", "6000x360p_0"):
        if name in clips:
            r = _measure(
                {
                    "stage": "predict",
                    "videos": [str(clips[name])],
                    "frames": 16,
                    "model": str(model),
                }
            )
            memory[f"1 video × {name.split('x')[0]} frames"] = r
    return {"speed": speed, "memory": memory}
