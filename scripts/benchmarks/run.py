"""The one benchmark runner: every topic, the document it regenerates, and how to run it.

Usage::

    python scripts/benchmarks/run.py --list            # topic, document, what it measures
    python scripts/benchmarks/run.py [--quick]          # the overview: docs/benchmarks.md
    python scripts/benchmarks/run.py TOPIC [OPTIONS]    # one topic (TOPIC --help: its options)

A topic is a module ``bench_<topic>.py`` beside this file with ``DOCUMENT`` (the page it
regenerates; ``docs/benchmarks.md`` for the sections of the overview), ``SUMMARY`` and
``main(argv)``. Shared set-up lives in the ``_bench_*`` modules here. Every page a topic
writes names the command that wrote it; the pages are regenerated, never edited.
Data come from ``../shared/data`` (``DEEPFEAT_SHARED_DATA`` overrides it).
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TOPIC = "overview"


def topics() -> dict[str, dict[str, str]]:
    """``{topic: {"document", "summary"}}`` read from the sources (nothing is imported)."""
    out = {}
    for path in sorted(HERE.glob("bench_*.py")):
        found = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                name = getattr(node.targets[0], "id", "")
                if name in ("DOCUMENT", "SUMMARY"):
                    found[name.lower()] = ast.literal_eval(node.value)
        out[path.stem.removeprefix("bench_")] = found
    return out


def listing() -> str:
    rows = topics()
    width = max(map(len, rows))
    lines = []
    for name, decl in rows.items():
        doc = decl.get("document", "?")
        if doc == "docs/benchmarks.md" and name != DEFAULT_TOPIC:
            doc += " (section)"
        lines.append(f"{name:<{width}}  {doc:<36}  {decl.get('summary', '')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--list"], ["-l"]):
        print(listing())
        return 0
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__.strip() + "\n\nTopics:\n" + listing())
        return 0
    topic = args.pop(0) if args and not args[0].startswith("-") else DEFAULT_TOPIC
    if topic not in topics():
        print(
            f"run.py: unknown topic {topic!r}; choose from: {', '.join(topics())}", file=sys.stderr
        )
        return 2
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    module = importlib.import_module(f"bench_{topic}")
    return int(module.main(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
