"""Shared fixtures: real data from ../shared/data (skipped when absent) and demo images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_dir(name: str) -> Path:
    """Path of a real-data folder, or skip the test cleanly when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture(scope="session")
def dfdc_dir() -> Path:
    return shared_dir("dfdc_faces")


@pytest.fixture(scope="session")
def k140_dir() -> Path:
    return shared_dir("k140_faces")


@pytest.fixture(scope="session")
def exif_dir() -> Path:
    return shared_dir("exif_samples")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A small demo dataset made by the package itself (shared by the whole session)."""
    from deepfeat import make_demo_dataset

    root = tmp_path_factory.mktemp("demo")
    make_demo_dataset(root, n_images=60, random_state=0)
    return root


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A demo set, its fft+meta features parquet and a model trained on it (CLI and
    service tests share it; nothing may change it)."""
    from deepfeat import make_demo_dataset
    from deepfeat.cli import main

    root = tmp_path_factory.mktemp("trained")
    demo = make_demo_dataset(root / "demo", n_images=120, random_state=2)
    feats = root / "feats.parquet"
    assert main(["extract", str(demo), "--out", str(feats), "--groups", "fft,meta", "-q"]) == 0
    model = root / "model"
    assert main(["train", str(feats), "--out", str(model), "-q"]) == 0
    return demo, feats, model


def heavy_modules_after(code: str) -> list[str]:
    """Which of scikit-learn, pandas, onnxruntime a fresh interpreter has imported after
    running ``code`` (for the tests that keep worker and CLI start-up light)."""
    import subprocess
    import sys

    probe = (
        f"{code}\nimport sys\n"
        "print(','.join(m for m in ('sklearn', 'pandas', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


_ROOT_LOGGING: tuple[list, int] | None = None


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """``deepfeat.cli.main`` configures the root logger (as a command line should); put it
    back as the session started after each test (module fixtures that run the CLI
    included), so that one test's handlers never write into another test's output."""
    import logging

    global _ROOT_LOGGING
    root = logging.getLogger()
    if _ROOT_LOGGING is None:
        _ROOT_LOGGING = (root.handlers[:], root.level)
    yield
    root.handlers[:] = _ROOT_LOGGING[0]
    root.setLevel(_ROOT_LOGGING[1])


# ------------------------------------------------------------------ video clips for the tests


def write_clip(path, frames, fourcc: str = "MJPG", fps: float = 25.0) -> Path:
    """Write RGB uint8 frames (all one size) as a clip with OpenCV (``MJPG`` or ``mp4v``)."""
    import cv2

    frames = list(frames)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return Path(path)


def jittered_frames(image: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` frames of one still image, each shifted by a few pixels (a shaky camera)."""
    rng = np.random.default_rng(seed)
    return [
        np.roll(image, tuple(int(s) for s in rng.integers(-3, 4, size=2)), axis=(0, 1))
        for _ in range(n)
    ]


def face_scene_frames(face: np.ndarray, n: int, size=(360, 480), seed: int = 0):
    """``n`` frames of a face crop pasted into a noisy scene, drifting a pixel per frame."""
    rng = np.random.default_rng(seed)
    h, w = face.shape[:2]
    out = []
    for t in range(n):
        scene = np.clip(rng.normal(128, 20, (*size, 3)), 0, 255).astype(np.uint8)
        y, x = 40 + t % 40, 60 + t % 80
        scene[y : y + h, x : x + w] = face
        out.append(scene)
    return out
