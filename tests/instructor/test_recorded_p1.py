"""The values recorded in helpers/inclass.py are what a correct solution gives on the checks'
fixed inputs (recomputed by instructor/inclass_reference.py), within the checks' tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import inclass
from instructor import inclass_reference as ref


@pytest.fixture(scope="module")
def recomputed():
    return ref.recorded_values()


def test_pairwise_distances_are_exact(recomputed):
    assert recomputed["RECORDED_PAIRWISE"] == inclass.RECORDED_PAIRWISE


def test_gradient_descent_losses(recomputed):
    for step, value in inclass.RECORDED_GD_LOSSES.items():
        assert recomputed["RECORDED_GD_LOSSES"][step] == pytest.approx(value, rel=1e-6)


def test_mlp_outputs_are_exact(recomputed):
    assert recomputed["RECORDED_MLP_EVAL"] == inclass.RECORDED_MLP_EVAL
    assert recomputed["RECORDED_MLP_TRAIN"] == inclass.RECORDED_MLP_TRAIN


def test_predictions_are_exact(recomputed):
    assert recomputed["RECORDED_PREDICT"] == inclass.RECORDED_PREDICT


def test_one_epoch(recomputed):
    np.testing.assert_allclose(recomputed["RECORDED_EPOCH_PARAMS"], inclass.RECORDED_EPOCH_PARAMS,
                               rtol=0, atol=1e-11)
    assert recomputed["RECORDED_EPOCH_LOSS"] == pytest.approx(inclass.RECORDED_EPOCH_LOSS,
                                                              abs=1e-11)


def test_the_references_pass_every_check(capsys):
    inclass.check_pairwise_sq_dists(ref.pairwise_sq_dists)
    inclass.check_least_squares_grad(ref.least_squares_grad)
    inclass.check_linear_gd(ref.fit_linear_gd)
    inclass.check_mlp_forward(ref.MLP)
    inclass.check_dataset(ref.MNIST1D)
    inclass.check_train_epoch(ref.train_epoch)
    inclass.check_predict(ref.predict)
    inclass.check_save_and_load(ref.save_and_load)
    assert "[FAIL]" not in capsys.readouterr().out
