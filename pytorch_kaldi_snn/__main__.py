import sys

from pytorch_kaldi_snn.cli import main

sys.exit(main())
