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
