"""Problem 3 (MNIST-1D): the helpers, and the checks' own behaviour on inputs that are no solution.

What a correct answer does to these checks, and what each typical mistake
does, is tested in ``tests/instructor/`` (it needs the solutions).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import checks
from helpers import mnist1d as m1d
from helpers.checks import CheckFailed
from helpers.data import load_mnist1d


@pytest.fixture(scope="module")
def data():
    return load_mnist1d()


@pytest.fixture(scope="module")
def tensors(data):
    return m1d.as_tensors(data)


# --- data helpers -------------------------------------------------------------------------------


def test_as_tensors_dtypes_and_shapes(tensors):
    assert tensors["x"].dtype == torch.float32 and tuple(tensors["x"].shape) == (4000, 40)
    assert tensors["x_test"].dtype == torch.float32 and tuple(tensors["x_test"].shape) == (1000, 40)
    assert tensors["y"].dtype == torch.int64 and tuple(tensors["y_test"].shape) == (1000,)


def test_the_published_permutation(data, capsys):
    """As notebooks/mnist1d-classification.ipynb makes it: np.random.seed(42); permutation(40)."""
    assert m1d.PUBLISHED_PERMUTATION == tuple(np.random.RandomState(42).permutation(40))
    shuffled, perm = m1d.shuffle_positions(data)
    assert tuple(perm) == m1d.PUBLISHED_PERMUTATION
    m1d.check_shuffled(data, shuffled)


def test_shuffle_uses_one_permutation_and_passes_its_check(data, capsys):
    shuffled, perm = m1d.shuffle_positions(data, seed=0)
    assert sorted(perm.tolist()) == list(range(40)) and perm.tolist() != list(range(40))
    np.testing.assert_array_equal(shuffled["x"], data["x"][:, perm])
    np.testing.assert_array_equal(shuffled["x_test"], data["x_test"][:, perm])
    m1d.check_shuffled(data, shuffled)
    _, perm_again = m1d.shuffle_positions(data, seed=0)
    np.testing.assert_array_equal(perm, perm_again)


def test_shuffle_check_fails_when_test_uses_another_permutation(data):
    shuffled, _ = m1d.shuffle_positions(data, seed=0)
    wrong = dict(shuffled, x_test=data["x_test"][:, np.random.default_rng(1).permutation(40)])
    with pytest.raises(CheckFailed):
        m1d.check_shuffled(data, wrong)


def test_shuffle_check_fails_when_nothing_moved(data):
    with pytest.raises(CheckFailed):
        m1d.check_shuffled(data, dict(data))


def test_random_shift_rolls_each_row_within_bound():
    x = torch.arange(8 * 40, dtype=torch.float32).reshape(8, 40)
    out = m1d.random_shift(x, 3, torch.Generator().manual_seed(0))
    for row, rolled in zip(x, out):
        matches = [s for s in range(-3, 4) if torch.equal(torch.roll(row, s), rolled)]
        assert len(matches) == 1
    assert torch.equal(out, m1d.random_shift(x, 3, torch.Generator().manual_seed(0)))
    assert torch.equal(m1d.random_shift(x, 0, torch.Generator().manual_seed(0)), x)


# --- recorded figures ---------------------------------------------------------------------------


def linear_params(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def conv_params(c_in: int, c_out: int, kernel: int) -> int:
    return c_in * c_out * kernel + c_out


def test_recorded_parameter_counts_follow_from_the_published_sizes():
    """notebooks/models.py of the mnist1d repository: the sizes, counted by hand."""
    assert m1d.PARAMS["logistic"] == linear_params(40, 10)
    for hidden, key in ((100, "mlp"), (256, "mlp_256")):
        residual = linear_params(40, hidden) + linear_params(hidden, hidden)
        assert m1d.PARAMS[key] == residual + linear_params(hidden, 10)
    cnn = conv_params(1, 25, 5) + 2 * conv_params(25, 25, 3) + linear_params(125, 10)
    assert m1d.PARAMS["cnn"] == cnn
    assert m1d.PARAMS["cnn_batch_norm"] == cnn + 3 * 2 * 25
    assert m1d.PARAMS["cnn_batch_norm_no_conv_bias"] == cnn + 3 * 2 * 25 - 3 * 25
    gru_direction = 3 * (6 * 1 + 6) + 3 * (
        6 * 6 + 6
    )  # input and hidden weights and biases of 3 gates
    assert m1d.PARAMS["gru"] == 2 * gru_direction + linear_params(40 * 12, 10)
    assert nn.GRU(1, 6, bidirectional=True).weight_hh_l0.shape == (18, 6)


def test_recorded_lengths_follow_from_the_conv_arithmetic():
    length, lengths = 40, []
    for kernel in (5, 3, 3):
        length = (length + 2 * 1 - kernel) // 2 + 1
        lengths.append(length)
    assert tuple(lengths) == m1d.CNN_LENGTHS


def test_the_shared_constants():
    assert m1d.BEST_CNN_TARGET == 98.5
    assert m1d.PAPER_BAND == 2.0
    assert m1d.PUBLISHED["original"] == {
        "logistic": 32,
        "mlp": 68,
        "cnn": 94,
        "gru": 91,
        "human": 96,
    }
    assert m1d.PUBLISHED["shuffled"]["cnn"] == 56 and m1d.PUBLISHED["shuffled"]["gru"] == 57


# --- the model checks reject models that are not the asked ones -----------------------------------


def test_logistic_check_rejects_a_hidden_layer_and_a_softmax(capsys):
    torch.manual_seed(0)
    with pytest.raises(CheckFailed, match="parameters"):
        m1d.check_logistic(nn.Sequential(nn.Linear(40, 20), nn.ReLU(), nn.Linear(20, 10)))
    with pytest.raises(CheckFailed, match="logits"):
        m1d.check_logistic(nn.Sequential(nn.Linear(40, 10), nn.Softmax(dim=1)))


class FlattenFirstCNN(nn.Module):
    """Wrong: 40 channels of length 1 instead of 1 channel of 40 positions: nothing shared."""

    def __init__(self, batch_norm: bool = False):
        super().__init__()
        self.conv1 = nn.Conv1d(40, 25, 1)
        self.conv2 = nn.Conv1d(25, 25, 1)
        self.conv3 = nn.Conv1d(25, 25, 1)
        self.linear = nn.Linear(25, 10)

    def forward(self, x):
        h = x.flatten(1).unsqueeze(2)  # (B, 40, 1)
        for conv in (self.conv1, self.conv2, self.conv3):
            h = F.relu(conv(h))
        return self.linear(h.flatten(1))


def test_cnn_check_rejects_a_cnn_that_flattens_first(capsys):
    with pytest.raises(CheckFailed):
        m1d.check_cnn(FlattenFirstCNN)


def test_training_loop_check_rejects_a_loop_that_does_nothing(tensors, capsys):
    def idle(model, optimizer, x, y, x_val, y_val, **options):
        return {
            "train_loss": [],
            "train_accuracy": [],
            "val_loss": [],
            "val_accuracy": [],
            "best_epoch": 0,
        }

    with pytest.raises(CheckFailed, match="one entry per epoch"):
        m1d.check_training_loop(idle, tensors)


def test_returns_logits_check_rejects_relu_outputs(capsys):
    torch.manual_seed(0)
    with pytest.raises(CheckFailed, match="logits"):
        m1d.check_returns_logits("x", nn.Sequential(nn.Linear(40, 10), nn.ReLU()))
    m1d.check_returns_logits("x", nn.Sequential(nn.Linear(40, 10), nn.LogSoftmax(dim=1)))


# --- the checks of the claims, on recorded tables -------------------------------------------------


PAPER_TABLE = {
    (version, key): float(value)
    for version, row in m1d.PUBLISHED.items()
    for key, value in row.items()
    if key != "human"
}


def test_table_story_holds_for_the_papers_own_table(capsys):
    bounded = m1d.check_table_story(PAPER_TABLE)
    assert bounded["table_shuffle_cost_cnn"] == (38.0, ">", 20.0)
    assert all(len(item) == 3 for item in bounded.values())


@pytest.mark.parametrize(
    "entry, value",
    [(("original", "cnn"), 70.0), (("shuffled", "gru"), 80.0), (("shuffled", "mlp"), 60.0)],
)
def test_table_story_fails_when_the_story_breaks(entry, value, capsys):
    with pytest.raises(CheckFailed):
        m1d.check_table_story({**PAPER_TABLE, entry: value})


def test_table_vs_paper_notes_without_stopping(capsys):
    distances = m1d.note_table_vs_paper({**PAPER_TABLE, ("original", "mlp"): 66.5,
                                         ("shuffled", "gru"): 54.9})
    assert distances["paper_distance_original_mlp"] == -1.5
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith(checks.NOTE_TAG) for line in lines) and len(lines) == 8
    assert any("gru, shuffled" in line and "OUTSIDE 2" in line for line in lines)
    assert any("mlp, original" in line and "within 2" in line for line in lines)


def test_section5_checks_on_recorded_figures(capsys):
    plain, decay = {"train": 100.0, "val": 62.0}, {"train": 78.0, "val": 60.0}
    bounded = m1d.check_regularisation("weight decay", plain, decay)
    assert bounded["weight_decay_gap_narrowed"][0] == 20.0
    with pytest.raises(CheckFailed, match="narrows"):
        m1d.check_regularisation("dropout", plain, {"train": 99.0, "val": 62.0})
    # the training accuracy must fall by more than 10 points beyond the validation change, up or down
    assert bounded["weight_decay_train_drop_beyond_val"][0] == 20.0
    for val in (73.5, 50.5):
        with pytest.raises(CheckFailed, match="far more than validation"):
            m1d.check_regularisation("dropout", plain, {"train": 79.0, "val": val})
    m1d.check_best_recipe(98.0, 92.2)
    with pytest.raises(CheckFailed, match="validation"):
        m1d.check_best_recipe(92.0, 92.2)
    m1d.check_batch_norm({3e-3: 53, 1e-2: 75, 3e-2: 85}, {3e-3: 85, 1e-2: 90, 3e-2: 91})
    with pytest.raises(CheckFailed, match="every"):
        m1d.check_batch_norm({3e-3: 53, 1e-2: 75, 3e-2: 92}, {3e-3: 85, 1e-2: 90, 3e-2: 91})
    sgd, adam = {1e-2: 68, 1e-1: 87, 3e-1: 88}, {3e-3: 85, 1e-2: 90, 3e-2: 91}
    bounded = m1d.check_optimisers(sgd, adam, 88.5, 90.5)
    assert bounded["optimisers_sgd_above_adam_lr"] == (20.0, ">", 0.0)  # 88 at 0.3 vs 68 at 0.01
    assert bounded["optimisers_gap_tuned"][0] == 2.0  # the means over seeds, not the sweep's
    with pytest.raises(CheckFailed, match="end close"):
        m1d.check_optimisers(sgd, adam, 80.0, 90.5)
    with pytest.raises(CheckFailed, match="larger"):  # SGD's best, 0.1, is Adam's best too
        m1d.check_optimisers({1e-2: 68, 1e-1: 88, 3e-1: 87}, {1e-2: 90, 1e-1: 91}, 88.5, 90.5)
    with pytest.raises(CheckFailed, match="larger"):  # no SGD rate above Adam's best
        m1d.check_optimisers(sgd, {1e-2: 80, 1: 91}, 88.5, 90.5)
    m1d.check_optimisers(sgd, {1e-3: 91, 1e-2: 85}, 88.5, 91.0)  # every SGD rate above Adam's
    m1d.check_schedule([{"val_accuracy": [0.5, 0.9, 0.93, 0.925]}], {1e-2: 90.0})
    with pytest.raises(CheckFailed, match="last epoch"):
        m1d.check_schedule([{"val_accuracy": [0.5, 0.95, 0.91]}], {1e-2: 90.0})
    # several seeds: each figure is the mean over the runs
    runs = [{"val_accuracy": [0.5, 0.95, 0.92]}, {"val_accuracy": [0.5, 0.93, 0.93]}]
    assert m1d.check_schedule(runs, {1e-2: 90.0})["one_cycle_best_minus_last"][0] == pytest.approx(1.5)
    with pytest.raises(CheckFailed, match="above where"):
        m1d.check_schedule(runs, {1e-2: 92.6})
    m1d.check_augmentation({"train": 99.0, "val": 92.0}, {"train": 95.0, "val": 92.5})
    curve = {"val_loss": [1.5, 1.1, 1.2, 1.3, 1.8, 2.0]}
    m1d.check_overfitting(100.0, 62.0, curve)
    with pytest.raises(CheckFailed, match="rises"):
        m1d.check_overfitting(100.0, 62.0, {"val_loss": [1.5, 1.1, 1.3, 1.2, 1.4, 1.3]})
    m1d.check_early_stopping({"val_accuracy": [0.5] * 19 + [0.6]}, 40, 60.0)
    with pytest.raises(CheckFailed, match="before the last"):
        m1d.check_early_stopping({"val_accuracy": [0.5] * 40}, 40, 50.0)
    with pytest.raises(CheckFailed, match="best epoch"):
        m1d.check_early_stopping({"val_accuracy": [0.5] * 19 + [0.6]}, 40, 50.0)


def test_best_cnn_check_uses_the_shared_target(capsys):
    assert m1d.check_best_cnn(98.5)["best_cnn_test_accuracy"] == (98.5, ">=", 98.5)
    with pytest.raises(CheckFailed, match="98.5"):
        m1d.check_best_cnn(98.4)


def test_checks_of_claims_print_one_line_each(capsys):
    m1d.check_best_recipe(98.0, 92.2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(checks.PASS_TAG)
