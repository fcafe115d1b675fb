#!/usr/bin/env python
"""Extract features of a folder, dataset or list of images (same as ``deepfeat extract``).

Example::

    python scripts/extract_features.py data/dfdc_faces --out features.parquet --jobs 2
"""

import sys

from deepfeat.cli import main

if __name__ == "__main__":
    sys.exit(main(["extract", *sys.argv[1:]]))
