"""``python -m deepfeat.cli …`` runs the command line (same as ``deepfeat …``)."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
