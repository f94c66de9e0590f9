"""lab_count_file=posteriors: priors from the network's mean posterior over the
training set (runner/posterior_prior.py), on the synthetic split of
test_runner_synth."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import torch
from test_runner_synth import N_CLASSES, make_plan, write_split

from pytorch_kaldi_snn.runner.posterior_prior import (
    mean_log_posteriors,
    wants_posterior_prior,
)


def _plan(tmp_path, count_file="auto"):
    for split, n, seed in (("train", 6, 1), ("dev", 2, 2), ("test", 2, 3)):
        write_split(os.path.join(tmp_path, split), n, seed)
    plan = make_plan(str(tmp_path), str(tmp_path / "out"))
    spec = plan.datasets["synth_train"]
    lab = dataclasses.replace(spec.labs[0], count_file=count_file)
    plan.datasets["synth_train"] = dataclasses.replace(spec, labs=(lab,))
    return plan


def test_only_the_posteriors_value_asks_for_it(tmp_path):
    assert not wants_posterior_prior(_plan(tmp_path / "a"), "lab_cd")
    assert wants_posterior_prior(_plan(tmp_path / "b", "posteriors"), "lab_cd")
    assert not wants_posterior_prior(_plan(tmp_path / "c", "posteriors"), "lab_mono")


def test_mean_posterior_over_every_real_frame(tmp_path):
    plan = _plan(tmp_path, "posteriors")
    frames = {"n": 0}
    first = np.log(np.array([0.7, 0.1, 0.1, 0.1]))
    second = np.log(np.array([0.1, 0.1, 0.1, 0.7]))

    def outputs(batch):
        t, b = batch.mask.shape
        frames["n"] += int(batch.mask.sum())
        out = torch.tensor(np.tile(first, (t, b, 1)))
        out[t // 2:] = torch.tensor(second)  # padding frames must not count
        return {"out_dnn2": out}

    got = mean_log_posteriors(plan, outputs, ["out_dnn2"], torch.device("cpu"))
    p = np.exp(got["out_dnn2"])
    assert p.shape == (N_CLASSES,) and abs(p.sum() - 1) < 1e-9
    assert frames["n"] > 0
    # a uniform network has a uniform prior: o - log_prior is 0 for every class
    uniform = mean_log_posteriors(
        plan, lambda b: {"o": torch.full((*b.mask.shape, N_CLASSES),
                                         -np.log(N_CLASSES))},
        ["o"], torch.device("cpu"))["o"]
    assert np.allclose(uniform, -np.log(N_CLASSES))
