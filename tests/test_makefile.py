"""`make demo` / `make test` take any Python >= 3.10 and refuse an older one in one line."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    return subprocess.run(
        ["make", "-C", str(tmp_path), *args], capture_output=True, text=True, timeout=60
    )


def test_default_python_is_python3():
    text = (REPO / "Makefile").read_text()
    assert re.search(r"^PYTHON \?= python3$", text, re.M)


@pytest.mark.parametrize("version", ["3.8.10", "2.7.18"])
def test_an_old_python_is_refused_in_one_line(tmp_path, version):
    fake = tmp_path / "python-old"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo "Python {version}"; exit 0; fi\n'
        "exit 1\n"  # the version check (python -c ...) fails, as on an old interpreter
    )
    fake.chmod(0o755)
    res = _make(tmp_path, "demo", f"PYTHON={fake}")
    assert res.returncode != 0
    assert f"deepfeat needs Python >= 3.10; {fake} is: Python {version}." in res.stderr
    assert "PYTHON=python3.X" in res.stderr
    assert not (tmp_path / ".venv").exists()  # nothing was created


def test_a_missing_python_is_named(tmp_path):
    res = _make(tmp_path, "test", "PYTHON=python-that-does-not-exist")
    assert res.returncode != 0
    assert "python-that-does-not-exist is: not found" in res.stderr
