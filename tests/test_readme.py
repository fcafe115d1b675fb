"""The README's code runs verbatim: every python block, then every `deepfeat` command.

The page's examples name `data/train`, `data/held_out`, `photo.jpg` and `photos/`; here
they are demo sets made by :func:`deepfeat.make_demo_dataset` in a temporary folder.
`make demo` / `make test` and the notebook commands are left out (they build the venv and
run the suite, or read real data; the notebooks have their own tests).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(README) if kind == lang]


def _commands() -> list[str]:
    lines = []
    for body in _blocks("bash"):
        for line in body.splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith("deepfeat "):
                lines.append(command)
    return lines


def test_the_readme_has_code_and_commands():
    assert len(_blocks("python")) >= 2
    names = {c.split()[1] for c in _commands()}
    assert {"extract", "train", "predict", "evaluate", "ablation", "report"} <= names


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from deepfeat import make_demo_dataset

    root = tmp_path_factory.mktemp("readme")
    make_demo_dataset(root / "data" / "train", n_images=60, random_state=0)
    held = make_demo_dataset(root / "data" / "held_out", n_images=40, random_state=1)
    shutil.copy(sorted((held / "fake").iterdir())[0], root / "photo.jpg")
    (root / "photos").mkdir()
    for src in sorted((held / "real").iterdir())[:2] + sorted((held / "fake").iterdir())[:2]:
        shutil.copy(src, root / "photos" / src.name)
    return root


@pytest.mark.slow
def test_readme_python_blocks_run_verbatim(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    namespace: dict = {"__name__": "__readme__"}
    for i, body in enumerate(_blocks("python")):
        try:
            exec(compile(body, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message names the block
            pytest.fail(f"README python block {i + 1} failed: {type(exc).__name__}: {exc}")
    assert namespace["proba"].shape == (1,)
    assert "roc_auc" in namespace["report"].attrs["summary"].columns.get_level_values(0)


@pytest.mark.slow
def test_readme_commands_run_verbatim(workdir):
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    for command in _commands():
        argv = shlex.split(command)
        assert shutil.which(argv[0], path=env["PATH"]), "the deepfeat console script"
        result = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    assert (workdir / "report" / "report.html").is_file()
    assert (workdir / "preds.csv").is_file() and (workdir / "metrics.json").is_file()
