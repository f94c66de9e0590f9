"""ONNX export: ONNX Runtime reproduces the PyTorch eval posteriors (forward and step);
missing packages, bad paths and failed checks give one line and write nothing."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from pytorch_kaldi_snn import export_onnx as onnx_export
from pytorch_kaldi_snn.cli import main
from pytorch_kaldi_snn.errors import DataError, SnnKaldiError
from pytorch_kaldi_snn.nn import (
    MultiBitSpike,
    SigmaDeltaEncoder,
    SNNStack,
    SymmetricSpike,
)

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

# float32: ONNX Runtime and PyTorch sum in different orders (measured differences
# about 3e-6 on these log-posteriors); a spike moved by one quantisation level would
# be far larger, and the seeds below give none.
ATOL = {torch.float32: 1e-4, torch.float64: 1e-9}


def _trained(kind, dtype=torch.float32, n_bits=4, encoder=None):
    """2 small layers + linear/log-softmax head after a few SGD steps (BN statistics,
    spike ranges and weights all moved from their initial values)."""
    torch.manual_seed(0)
    stack = SNNStack(6, [9, 7], kind, lambda: MultiBitSpike(n_bits, 1 if n_bits else 0),
                     encoder=encoder).to(dtype)
    head = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.LogSoftmax(-1)).to(dtype)
    params = list(stack.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.1)
    for _ in range(4):
        loss = -head(stack(torch.randn(15, 4, 6, dtype=dtype)))[..., 0].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return stack.eval(), head.eval()


def _onnx_outputs(path, step_path, x):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    fwd = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    out = torch.from_numpy(fwd.run(None, {"x": x.numpy()})[0])
    stp = ort.InferenceSession(step_path, options, providers=["CPUExecutionProvider"])
    meta = stp.get_modelmeta().custom_metadata_map
    state = np.zeros((x.shape[1], int(meta["state_size"])), dtype=x.numpy().dtype)
    frames = []
    for x_t in x:
        y, state = stp.run(None, {"x_t": x_t.numpy(), "state": state})
        frames.append(torch.from_numpy(y))
    return out, torch.stack(frames)


@pytest.mark.parametrize("kind", ["traditional", "v1", "v2"])
def test_onnx_posteriors_equal_the_eval_forward(kind, tmp_path):
    stack, head = _trained(kind)
    path = str(tmp_path / f"{kind}.onnx")
    report = onnx_export.export_onnx(stack, path, head)
    assert report.checked and report.step_path == str(tmp_path / f"{kind}.step.onnx")
    assert report.max_diff_f64 <= onnx_export.F64_TOLERANCE
    assert report.max_diff <= ATOL[torch.float32]
    assert sorted(os.listdir(tmp_path)) == sorted([f"{kind}.onnx", f"{kind}.step.onnx"])
    for t, b in [(13, 2), (4, 5)]:
        x = torch.randn(t, b, 6)
        with torch.no_grad():
            ref = head(stack(x))
        for got in _onnx_outputs(path, report.step_path, x):
            assert got.shape == (t, b, 5)
            torch.testing.assert_close(got, ref, rtol=0, atol=ATOL[torch.float32])


def test_onnx_float64_with_sigma_delta_encoder_and_full_precision(tmp_path):
    stack, _ = _trained("v2", torch.float64, n_bits=None,
                        encoder=SigmaDeltaEncoder(SymmetricSpike(4, 0)))
    path = str(tmp_path / "enc.onnx")
    report = onnx_export.export_onnx(stack, path)  # no head: the spikes themselves
    x = torch.randn(11, 3, 6, dtype=torch.float64)
    with torch.no_grad():
        ref = stack(x)
    for got in _onnx_outputs(path, report.step_path, x):
        torch.testing.assert_close(got, ref, rtol=0, atol=ATOL[torch.float64])


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime"])
def test_missing_package_is_one_line_naming_the_pip_extra(missing, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import missing` fail
    out = str(tmp_path / "m.onnx")
    assert main(["export", str(tmp_path / "exp.cfg"), "--out", out]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert repr(missing) in err and "pip install 'pytorch-kaldi-snn[onnx]'" in err
    assert os.listdir(tmp_path) == []
    if missing == "onnxruntime":  # exporting without the check needs onnx only
        stack, head = _trained("v2")
        report = onnx_export.export_onnx(stack, out, head, check=False)
        assert not report.checked and os.path.exists(report.step_path)


@pytest.mark.parametrize("args", [
    ["--out", "m.pt", "--format", "onnx"],
    ["--out", "m.onnx", "--format", "torchscript"],
    ["--out", "folder.onnx"],
    ["--out", "m.step.onnx", "--format", "onnx"],
])
def test_bad_path_or_format_is_one_line_and_writes_nothing(args, tmp_path, capsys):
    (tmp_path / "folder.onnx").mkdir()
    (tmp_path / "m.step.step.onnx").mkdir()  # the step file of m.step.onnx
    before = sorted(os.listdir(tmp_path))
    args = [str(tmp_path / a) if a.startswith(("m.", "folder")) else a for a in args]
    assert main(["export", str(tmp_path / "exp.cfg"), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err
    assert sorted(os.listdir(tmp_path)) == before


def test_a_failed_check_names_the_file_and_writes_nothing(tmp_path, monkeypatch):
    stack, head = _trained("traditional")
    monkeypatch.setattr(onnx_export, "F64_TOLERANCE", -1.0)
    path = str(tmp_path / "m.onnx")
    with pytest.raises(DataError, match="m.onnx: the ONNX export does not reproduce"):
        onnx_export.export_onnx(stack, path, head)
    assert os.listdir(tmp_path) == []
    with pytest.raises(SnnKaldiError, match="a .onnx file"):
        onnx_export.export_onnx(stack, str(tmp_path / "m.pt"), head)


@pytest.mark.slow
def test_cli_exports_a_trained_cfg_to_onnx(tmp_path, capsys):
    from test_export import trained_cfg

    cfg_path, _nets, x, ref = trained_cfg(tmp_path)
    out = str(tmp_path / "model.onnx")  # the suffix picks the format
    assert main(["export", cfg_path, "--out", out, "--feat-dim", "40",
                 "--n-out", "lab_cd=12"]) == 0
    printed = capsys.readouterr().out
    assert "model.step.onnx" in printed and "max |difference|" in printed
    for got in _onnx_outputs(out, str(tmp_path / "model.step.onnx"), x):
        torch.testing.assert_close(got, ref, rtol=0, atol=ATOL[torch.float32])
