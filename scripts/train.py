#!/usr/bin/env python
"""Train a detector on a labelled dataset or a features parquet (same as ``deepfeat train``).

Example::

    python scripts/train.py features.parquet --out model/ --calibration isotonic
"""

import sys

from deepfeat.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
