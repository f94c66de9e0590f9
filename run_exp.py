"""PyTorch-Kaldi's entry point, run by our runner:
``python run_exp.py CFG [--section,field=value]``.

Equivalent to ``pytorch-kaldi-snn run CFG ...``; see
``pytorch_kaldi_snn/runner/cli.py``.
"""

import sys

from pytorch_kaldi_snn.runner.cli import main_run_exp

if __name__ == "__main__":
    sys.exit(main_run_exp())
