"""Shared by the tests/test_state_*.py files: the DEMO_SNN_v2 cfg on the tiny corpus,
rendered for one out folder, and the small overrides that keep a real run at seconds."""

from __future__ import annotations

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# a 2 x 16 spiking stack, 4 utterances a batch: a real run of one epoch in seconds
SMALL = ["--architecture1,snn_lay=16,16", "--batches,batch_size_train=4"]
_dirs: dict = {}


def demo_dirs(tiny_aligned, tmp_path_factory) -> dict:
    """conftest's aligned tiny corpus plus test-set alignments (made once)."""
    if not _dirs:
        from pytorch_kaldi_snn import kaldi

        data, exp = tiny_aligned["data"], tiny_aligned["exp"]
        ali_test = tmp_path_factory.mktemp("state_demo") / "ali_test"
        kaldi.align_data(data / "test", exp / "mono", ali_test, data / "lang", nj=2)
        _dirs.update(data=data, train=exp / "mono", dev=exp / "mono_dev",
                     test=ali_test, graph=exp / "graph_phone")
    return _dirs


def render_demo(dirs: dict, cfg: str, out: str, n_epochs: int = 1) -> str:
    """``cfg/DEMO_SNN_v2.cfg`` with the tokens filled in, written to ``cfg``."""
    from pytorch_kaldi_snn.runner.render import render_file

    render_file(os.path.join(REPO, "cfg", "DEMO_SNN_v2.cfg"), str(cfg), {
        "DATA": str(dirs["data"]), "ALI_TRAIN": str(dirs["train"]),
        "ALI_DEV": str(dirs["dev"]), "ALI_TEST": str(dirs["test"]),
        "ALI_HELDOUT": str(dirs["test"]),
        "GRAPH": str(dirs["graph"]), "OUT_FOLDER": str(out), "SEED": "1",
        "N_EPOCHS": str(n_epochs), "USE_CUDA": "False",
    })
    return str(cfg)
