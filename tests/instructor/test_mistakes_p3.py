"""Typical mistakes in Problem 3's exercises, each put into the solved notebook: its check FAILs.

Each test replaces a snippet of a solution region (``tests/instructor/cells.py``
insists that the snippet occurs exactly once) and runs the notebook in quick
mode up to the exercise's check, which must print ``[FAIL]`` and raise
``CheckFailed``; a crash elsewhere does not count. The first three come from
the issue that asked for them (softmax before the cross-entropy, ``model.train()``
once before the epoch loop, ``padding=2`` in the CNN's first layer, early
stopping that does not restore the best weights, ``reduction="sum"``, no
``zero_grad``); the others are mistakes students make in these exercises.
"""

from __future__ import annotations

import pytest
from torch import nn

from helpers import mnist1d as m1d
from helpers.checks import CheckFailed
from tests.instructor.cells import expect_check_failure, fail_lines, run_cells

NOTEBOOK = "03_exercise_mnist1d"

#: The cells each exercise's check needs: nothing of the plots, and the 3.1 check only for 3.1.
CHECK_CELL = {
    "3.1": "# check the loop on a model",
    "3.2": "# check logistic regression",
    "3.3": "# check the MLP",
    "3.4": "# check the CNN",
}
PLOTS = "# one example signal per class"

LOSS = "loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)"
EPOCH_START = "    for epoch in range(epochs):\n        model.train()\n"
RESTORE = "    if best_state is not None:\n        model.load_state_dict(best_state)\n"
SCHEDULER = "            if scheduler is not None:\n                scheduler.step()\n"
CONV1 = "nn.Conv1d(1, channels, 5, stride=2, padding=1)"
BEST_IF = "        if val_accuracy > best_accuracy:\n            best_accuracy, best_epoch = val_accuracy, epoch\n"
STOP = "        elif patience is not None and epoch - best_epoch >= patience:\n            break\n"
LAYER = "h = F.relu(norm(conv(h)))"

MISTAKES = {  # exercise -> mistake -> [(snippet of the solution, what a student writes), ...]
    "3.1": {
        "model.train() once, before the epoch loop": [
            (
                EPOCH_START,
                "    model.train()\n    for epoch in range(epochs):\n",
            ),
        ],
        "no model.train() at all": [
            (
                EPOCH_START,
                "    for epoch in range(epochs):\n",
            ),
        ],
        "no optimizer.zero_grad()": [
            (
                "            optimizer.zero_grad(set_to_none=True)\n",
                "",
            ),
        ],
        "zero_grad after backward": [
            (
                "            optimizer.zero_grad(set_to_none=True)\n            loss.backward()\n",
                "            loss.backward()\n            optimizer.zero_grad(set_to_none=True)\n",
            ),
        ],
        "no backward": [
            (
                "            loss.backward()\n",
                "",
            ),
        ],
        "no optimiser step": [
            (
                "            optimizer.step()\n",
                "",
            ),
        ],
        'reduction="sum"': [
            (
                LOSS,
                LOSS[:-1] + ', reduction="sum")',
            ),
        ],
        "label smoothing ignored": [
            (
                LOSS,
                "loss = F.cross_entropy(logits, yb)",
            ),
        ],
        "no shuffling": [
            (
                "order = torch.randperm(n, generator=generator).to(x.device)",
                "order = torch.arange(n, device=x.device)",
            ),
        ],
        "shuffle=False ignored": [
            (
                "        if shuffle:\n",
                "        if True:\n",
            ),
        ],
        "shuffling that ignores the seed": [
            (
                "torch.randperm(n, generator=generator)",
                "torch.randperm(n)",
            ),
        ],
        "the last, smaller batch dropped": [
            (
                "for i in range(0, n, batch_size):",
                "for i in range(0, n - batch_size + 1, batch_size):",
            ),
        ],
        "train_loss as the mean of batch means": [
            (
                "loss_sum += loss.item() * len(idx)",
                "loss_sum += loss.item()",
            ),
            (
                'history["train_loss"].append(loss_sum / n)',
                'history["train_loss"].append(loss_sum / -(-n // batch_size))',
            ),
        ],
        "train_loss of the last batch only": [
            (
                'history["train_loss"].append(loss_sum / n)',
                'history["train_loss"].append(loss.item())',
            ),
        ],
        "train_accuracy in percent": [
            (
                'history["train_accuracy"].append(correct / n)',
                'history["train_accuracy"].append(100 * correct / n)',
            ),
        ],
        "validation on the training signals": [
            (
                "val_loss, val_accuracy = evaluate(model, x_val, y_val)",
                "val_loss, val_accuracy = evaluate(model, x, y)",
            ),
        ],
        "history entries per batch": [
            (
                'history["train_loss"].append(loss_sum / n)',
                "pass",
            ),
            (
                "            loss_sum += loss.item() * len(idx)\n",
                "            loss_sum += loss.item() * len(idx)\n"
                '            history["train_loss"].append(loss.item())\n',
            ),
        ],
        "scheduler stepped once per epoch": [
            (
                SCHEDULER,
                "",
            ),
            (
                '        history["train_loss"].append(loss_sum / n)\n',
                "        if scheduler is not None:\n            scheduler.step()\n"
                '        history["train_loss"].append(loss_sum / n)\n',
            ),
        ],
        "augment ignored": [
            (
                "                xb = augment(xb, generator)\n",
                "                pass\n",
            ),
        ],
        "scheduler stepped before the optimiser (the schedule's first rate skipped)": [
            (
                "            optimizer.step()\n" + SCHEDULER,
                SCHEDULER + "            optimizer.step()\n",
            ),
        ],
        "the order drawn from torch's global generator, seeded in train": [
            (
                "    history = {",
                "    torch.manual_seed(seed)\n    history = {",
            ),
            (
                "order = torch.randperm(n, generator=generator).to(x.device)",
                "order = torch.randperm(n).to(x.device)",
            ),
        ],
        "augment given a new generator per batch (the same shifts every batch)": [
            (
                "xb = augment(xb, generator)",
                "xb = augment(xb, torch.Generator().manual_seed(seed))",
            ),
        ],
        "augment given the global generator (its shifts ignore the seed)": [
            (
                "xb = augment(xb, generator)",
                "xb = augment(xb, torch.default_generator)",
            ),
        ],
        "early stopping without restoring the best weights": [
            (
                RESTORE,
                "",
            ),
        ],
        "early stopping on val_loss instead of val_accuracy": [
            (
                "best_accuracy, best_epoch, best_state = -1.0, 0, None",
                "best_accuracy, best_epoch, best_state = float('inf'), 0, None",
            ),
            (
                BEST_IF,
                "        if val_loss < best_accuracy:\n"
                "            best_accuracy, best_epoch = val_loss, epoch\n",
            ),
        ],
        "patience counted over all worse epochs, not reset by an improvement": [
            (
                "best_accuracy, best_epoch, best_state = -1.0, 0, None",
                "best_accuracy, best_epoch, best_state = -1.0, 0, None\n    bad_epochs = 0",
            ),
            (
                STOP,
                "        else:\n            bad_epochs += 1\n"
                "            if patience is not None and bad_epochs >= patience:\n"
                "                break\n",
            ),
        ],
        "best weights restored only when the loop breaks": [
            (
                RESTORE,
                "",
            ),
            (
                STOP,
                "        elif patience is not None and epoch - best_epoch >= patience:\n"
                "            model.load_state_dict(best_state)\n            break\n",
            ),
        ],
        "the last of equal accuracies as the best (>=)": [
            (
                "if val_accuracy > best_accuracy:",
                "if val_accuracy >= best_accuracy:",
            ),
        ],
        "early stopping keeps a live reference, not a copy": [
            (
                "best_state = copy.deepcopy(model.state_dict())",
                "best_state = model.state_dict()",
            ),
        ],
        "patience off by one": [
            (
                "epoch - best_epoch >= patience",
                "epoch - best_epoch > patience",
            ),
        ],
        "patience ignored": [
            (
                "        elif patience is not None and epoch - best_epoch >= patience:\n"
                "            break\n",
                "",
            ),
        ],
        "x_val=None not handled": [
            (
                "        if x_val is None:\n            continue\n",
                "",
            ),
        ],
    },
    "3.2": {
        "no bias": [
            (
                "self.linear = nn.Linear(40, 10)",
                "self.linear = nn.Linear(40, 10, bias=False)",
            ),
        ],
        "softmax at the end": [
            (
                "return self.linear(x)",
                "return F.softmax(self.linear(x), dim=1)",
            ),
        ],
        "ReLU at the end": [
            (
                "return self.linear(x)",
                "return F.relu(self.linear(x))",
            ),
        ],
        "a hidden layer": [
            (
                "self.linear = nn.Linear(40, 10)",
                "self.linear = nn.Sequential(nn.Linear(40, 10), nn.ReLU(), nn.Linear(10, 10))",
            ),
        ],
        "squeeze() on the logits (a batch of one loses its batch axis)": [
            (
                "return self.linear(x)",
                "return self.linear(x).squeeze()",
            ),
        ],
    },
    "3.3": {
        "softmax before the cross-entropy": [
            (
                "return self.linear3(h)",
                "return F.softmax(self.linear3(h), dim=1)",
            ),
        ],
        "no ReLU after the first layer": [
            (
                "h = self.dropout(F.relu(self.linear1(x)))",
                "h = self.dropout(self.linear1(x))",
            ),
        ],
        "the skip connection from the first layer's pre-activation": [
            (
                "        h = self.dropout(F.relu(self.linear1(x)))\n"
                "        h = h + self.dropout(F.relu(self.linear2(h)))\n",
                "        z = self.linear1(x)\n        h = self.dropout(F.relu(z))\n"
                "        h = z + self.dropout(F.relu(self.linear2(h)))\n",
            ),
        ],
        "dropout after the sum of the residual layer": [
            (
                "        h = h + self.dropout(F.relu(self.linear2(h)))\n",
                "        h = self.dropout(h + F.relu(self.linear2(h)))\n",
            ),
        ],
        "dropout also on the input signal": [
            (
                "h = self.dropout(F.relu(self.linear1(x)))",
                "h = self.dropout(F.relu(self.linear1(self.dropout(x))))",
            ),
        ],
        "dropout only in the residual branch": [
            (
                "h = self.dropout(F.relu(self.linear1(x)))",
                "h = F.relu(self.linear1(x))",
            ),
        ],
        "the dropout probability hard-coded to 0.5": [
            (
                "self.dropout = nn.Dropout(dropout)",
                "self.dropout = nn.Dropout(0.5)",
            ),
        ],
        "no skip connection": [
            (
                "h = h + self.dropout(F.relu(self.linear2(h)))",
                "h = self.dropout(F.relu(self.linear2(h)))",
            ),
        ],
        "skip connection inside the ReLU": [
            (
                "h = h + self.dropout(F.relu(self.linear2(h)))",
                "h = self.dropout(F.relu(h + self.linear2(h)))",
            ),
        ],
        "no ReLUs": [
            (
                "h = self.dropout(F.relu(self.linear1(x)))",
                "h = self.dropout(self.linear1(x))",
            ),
            (
                "h = h + self.dropout(F.relu(self.linear2(h)))",
                "h = h + self.dropout(self.linear2(h))",
            ),
        ],
        "dropout ignored": [
            (
                "self.dropout = nn.Dropout(dropout)",
                "self.dropout = nn.Identity()",
            ),
        ],
        "dropout on the logits": [
            (
                "return self.linear3(h)",
                "return self.dropout(self.linear3(h))",
            ),
        ],
        "F.dropout, also in eval mode": [
            (
                "h = self.dropout(F.relu(self.linear1(x)))",
                "h = F.dropout(F.relu(self.linear1(x)), self.dropout.p)",
            ),
        ],
        "256 hidden units hard-coded": [
            (
                "self.linear1 = nn.Linear(40, hidden)",
                "self.linear1 = nn.Linear(40, 256)",
            ),
            (
                "self.linear2 = nn.Linear(hidden, hidden)",
                "self.linear2 = nn.Linear(256, 256)",
            ),
            (
                "self.linear3 = nn.Linear(hidden, 10)",
                "self.linear3 = nn.Linear(256, 10)",
            ),
        ],
        "ReLU on the logits": [
            (
                "return self.linear3(h)",
                "return F.relu(self.linear3(h))",
            ),
        ],
    },
    "3.4": {
        "no ReLU after the last convolution": [
            (
                "        for conv, norm in zip(self.convs, self.norms):\n            " + LAYER + "\n",
                "        for k, (conv, norm) in enumerate(zip(self.convs, self.norms)):\n"
                "            h = norm(conv(h))\n"
                "            if k < 2:\n"
                "                h = F.relu(h)\n",
            ),
        ],
        "the width hard-coded to 25 channels": [
            (
                "        self.convs = nn.ModuleList([",
                "        channels = 25  # the paper's width\n        self.convs = nn.ModuleList([",
            ),
        ],
        "padding=2 in the first layer": [
            (
                CONV1,
                "nn.Conv1d(1, channels, 5, stride=2, padding=2)",
            ),
        ],
        "kernel 3 in the first layer": [
            (
                CONV1,
                "nn.Conv1d(1, channels, 3, stride=2, padding=1)",
            ),
        ],
        "stride 1 in the first layer": [
            (
                CONV1,
                "nn.Conv1d(1, channels, 5, stride=1, padding=1)",
            ),
        ],
        "signal as 40 channels": [
            (
                "h = x.unsqueeze(1)",
                "h = x.unsqueeze(2)",
            ),
        ],
        "no ReLUs": [
            (
                LAYER,
                "h = norm(conv(h))",
            ),
        ],
        "batch norm after the ReLU": [
            (
                LAYER,
                "h = norm(F.relu(conv(h)))",
            ),
        ],
        "batch_norm ignored": [
            (
                "norm = (lambda: nn.BatchNorm1d(channels)) if batch_norm else nn.Identity",
                "norm = nn.Identity",
            ),
        ],
        "one batch norm shared by all layers": [
            (
                "self.norms = nn.ModuleList([norm() for _ in self.convs])",
                "self.norms = nn.ModuleList([norm()] * 3)",
            ),
        ],
        "softmax before the cross-entropy": [
            (
                "return self.linear(h.flatten(1))",
                "return F.softmax(self.linear(h.flatten(1)), dim=1)",
            ),
        ],
    },
}

CASES = [(exercise, name) for exercise, mistakes in MISTAKES.items() for name in mistakes]


def skipped(exercise: str) -> list[str]:
    """Cells not needed for ``exercise``'s check: the plots, and the loop's check for the models."""
    return [PLOTS] + ([CHECK_CELL["3.1"]] if exercise != "3.1" else [])


@pytest.mark.slow
@pytest.mark.parametrize("exercise", list(CHECK_CELL))
def test_the_solved_notebook_passes_each_check(exercise):
    _, output = run_cells(NOTEBOOK, until=CHECK_CELL[exercise], skip=skipped(exercise))
    assert "[PASS]" in output and "[FAIL]" not in output


@pytest.mark.slow
@pytest.mark.parametrize("exercise, mistake", CASES, ids=[f"{e}: {m}" for e, m in CASES])
def test_the_check_catches_the_mistake(exercise, mistake):
    output = expect_check_failure(
        NOTEBOOK,
        until=CHECK_CELL[exercise],
        skip=skipped(exercise),
        replace=dict(MISTAKES[exercise][mistake]),
    )
    assert fail_lines(output), output


#: Answers that differ from the solution but are right: the checks must pass them.
ALTERNATIVES = {
    "3.3: dropout before the ReLU (the same: a mask is never negative)": (
        "3.3", {"h = self.dropout(F.relu(self.linear1(x)))": "h = F.relu(self.dropout(self.linear1(x)))"}),
    "3.3: F.dropout instead of the nn.Dropout module": (
        "3.3", {"        h = self.dropout(F.relu(self.linear1(x)))\n":
                "        h = F.dropout(F.relu(self.linear1(x)), self.dropout.p, self.training)\n"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("alternative", list(ALTERNATIVES))
def test_the_check_passes_a_right_alternative(alternative):
    exercise, replace = ALTERNATIVES[alternative]
    _, output = run_cells(NOTEBOOK, until=CHECK_CELL[exercise], skip=skipped(exercise),
                          replace=replace)
    assert "[PASS]" in output and "[FAIL]" not in output, output[-2000:]


def test_every_exercise_has_mistakes():
    assert set(MISTAKES) == {"3.1", "3.2", "3.3", "3.4"}
    assert sum(len(m) for m in MISTAKES.values()) >= 40


# --- the MLP check on an MLP one step short of the answer (no skip connection) ---------------


class PlainMLP(nn.Module):
    """40-100-100-10 with ReLUs and no skip connection: the parameter count of the paper's MLP."""

    def __init__(self, hidden: int = 100, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(40, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 10),
        )

    def forward(self, x):
        return self.layers(x)


def test_mlp_check_rejects_an_mlp_without_the_skip_connection(capsys):
    assert sum(p.numel() for p in PlainMLP().parameters()) == m1d.PARAMS["mlp"]
    with pytest.raises(CheckFailed, match="skip connection"):
        m1d.check_mlp(PlainMLP)
