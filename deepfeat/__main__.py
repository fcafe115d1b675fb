"""``python -m deepfeat …`` runs the command-line interface (same as ``deepfeat …``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
