"""The notebooks: stored without outputs, and they run top to bottom on a small demo set."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
KERNEL_NAME = "deepfeat-test-venv"
#: Figures each notebook shows at least (the library's figure families in 01 and 02).
MIN_FIGURES = {"01_eda.ipynb": 8, "02_feature_importance.ipynb": 8}


def test_the_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= {
        "01_eda.ipynb",
        "02_feature_importance.ipynb",
        "03_synthesis.ipynb",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"{path.name}: code cell {i} has outputs"
        assert cell.get("execution_count") is None, f"{path.name}: code cell {i} was executed"
    # the first code cell holds the parameters (dataset path first of all)
    assert "DATASET" in code[0].source
    assert "parameters" in code[0].metadata.get("tags", [])
    # only the public API
    for cell in code:
        assert "deepfeat._" not in cell.source and "from deepfeat." not in cell.source


def _available_groups() -> str:
    groups = ["fft"]
    if importlib.util.find_spec("deepfeat.features._cnn") is not None:
        groups.insert(0, "cnn")
    if importlib.util.find_spec("deepfeat.features._meta_kernel") is not None:
        groups.append("meta")
    return ",".join(groups)


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch):
    """A kernel spec that runs this very interpreter (the venv's python), found first."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "deepfeat test (venv python)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences a jupyter_core deprecation
    monkeypatch.setenv("MPLBACKEND", "Agg")  # %matplotlib inline overrides it in the kernel
    # the parameters cell of each notebook reads these
    monkeypatch.setenv("DEEPFEAT_DATASET", "")
    monkeypatch.setenv("DEEPFEAT_DEMO_N", "40")
    monkeypatch.setenv("DEEPFEAT_GROUPS", _available_groups())
    monkeypatch.setenv("DEEPFEAT_N_ESTIMATORS", "40")
    monkeypatch.setenv("DEEPFEAT_CV", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    return KERNEL_NAME


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, tmp_path, venv_kernel):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    probe = nbformat.v4.new_code_cell("import sys; print(sys.executable)")
    probe.id = "test-probe"
    nb.cells.append(probe)
    client = NotebookClient(
        nb,
        kernel_name=venv_kernel,
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - start
    assert elapsed < 240, f"{path.name} took {elapsed:.0f} s"

    assert nb.cells[-1].outputs[0]["text"].strip() == sys.executable  # the venv's python ran
    code = [c for c in nb.cells[:n_cells] if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    pngs = [
        o
        for c in code
        for o in c.outputs
        if o.get("output_type") in ("display_data", "execute_result")
        and "image/png" in o.get("data", {})
    ]
    # every cell that draws shows its figure, once (no pyplot double display)
    plot_cells = [c for c in code if "plots.plot_" in c.source or "plt.subplots(" in c.source]
    assert len(pngs) == len(plot_cells) >= MIN_FIGURES.get(path.name, 3)
