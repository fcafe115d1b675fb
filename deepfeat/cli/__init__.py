"""The ``deepfeat`` command line: a thin layer over the library.

Exit codes
----------
0  success (also when some files failed: they are listed in OUT.errors.csv / on stderr)
1  user error (missing input, bad model folder, unknown option value), one line on stderr
2  usage error (argparse)
3  nothing usable: every input failed

The commands live in ``deepfeat.cli._extract`` (demo, extract), ``_train`` (train),
``_score`` (predict, evaluate, ablation, report) and ``_dask`` (the Dask options); the
parser and :func:`main` in ``_parser``.
"""

from ._parser import build_parser, main

__all__ = ["build_parser", "main"]
