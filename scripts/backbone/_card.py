"""Record a derived file of the bundled backbone in its card (``variants.<key>``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

BACKBONES = Path(__file__).resolve().parents[2] / "deepfeat" / "backbones"
CARD = BACKBONES / "efficientnet_lite0.json"


def record_variant(key: str, path: Path, **fields) -> dict:
    """Write ``variants[key]`` = file name, sha256, size and ``fields``; return the entry."""
    data = path.read_bytes()
    variant = {
        "file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        **fields,
    }
    card = json.loads(CARD.read_text())
    card.setdefault("variants", {})[key] = variant
    CARD.write_text(json.dumps(card, indent=2) + "\n")
    return variant
