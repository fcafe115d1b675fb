"""The house rules of docs/architecture.md, checked on the source: no import circle inside
``deepfeat/`` (module-level and function-level imports alike) and no module over 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "deepfeat"
MAX_LINES = 600
PACKAGE_FILES = ("__init__.py", "__main__.py")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every deepfeat module ``name`` imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:
                    found.add(sub)
                elif target in modules:
                    found.add(target)
    found.discard(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_inside_the_package():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert "deepfeat._schema" in graph and not graph["deepfeat._schema"]  # the ground floor
    assert _cycles(graph) == []


def test_the_checker_sees_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_600_lines():
    sizes = {
        p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    assert {k: v for k, v in sizes.items() if v > MAX_LINES} == {}


def test_nothing_outside_the_detector_uses_its_private_names():
    """The training recipe is written once: no ``det._xgb`` / ``detector._Calibrator`` & co.
    Other parts import the detector's named functions and classes, never a private name."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "detector":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and "detector" in (node.module or "").split("."):
                offenders += [
                    f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")
                ]
    assert offenders == []


def test_the_top_floor_has_at_most_five_private_modules():
    """Conventions, I/O safety, locking (and the version, the ONNX session) at the bottom;
    every other private module lives in the folder of its part."""
    private = sorted(p.name for p in PACKAGE.glob("_*.py") if p.name not in PACKAGE_FILES)
    assert len(private) <= 5, private
    assert {"_schema.py", "_io.py", "_lock.py"} <= set(private)


def test_each_part_is_a_folder_behind_a_small_public_init():
    for part in ("detector", "face", "video", "report", "datasets", "features"):
        init = PACKAGE / part / "__init__.py"
        assert init.is_file(), part
        assert len(init.read_text().splitlines()) <= 80, part
    assert not (PACKAGE / "detector.py").exists() and not (PACKAGE / "video.py").exists()
