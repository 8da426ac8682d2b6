"""The claims of Problem 1's texts and written answers, checked in code."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from instructor.inclass_reference import MLP


def test_view_follows_the_strides():
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert a.T.stride() == (1, 3) and not a.T.is_contiguous()
    assert a.T.view(1, 3, 2).shape == (1, 3, 2)  # expressible with the strides
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        a.T.view(6)
    flat = a.T.reshape(6)
    flat[0] = -1.0
    assert a[0, 0] == 1.0  # reshape copied


def test_to_returns_the_tensor_itself_when_nothing_changes():
    x = torch.zeros(3)
    assert x.to("cpu") is x and x.to(torch.float32) is x
    assert x.to(torch.float64) is not x
    module = nn.Linear(2, 2)
    assert module.to("cpu") is module


def test_batch_norm_with_a_batch_of_one_in_training_mode():
    bn = nn.BatchNorm1d(3)
    bn.train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        bn(torch.randn(1, 3))
    signal = torch.randn(1, 3, 40) * 5 + 7  # one signal, 3 channels, 40 positions: accepted
    out = bn(signal)
    assert torch.allclose(out.mean(dim=2), torch.zeros(1, 3), atol=1e-5)  # level removed
    before = bn.running_mean.clone()
    bn(torch.randn(1, 3, 40) + 100)
    assert not torch.equal(before, bn.running_mean), "training-mode passes overwrite the stats"
    bn.eval()
    frozen = bn.running_mean.clone()
    bn(torch.randn(1, 3, 40) + 100)
    assert torch.equal(frozen, bn.running_mean)


def test_dropout_keeps_the_next_layers_input_right_on_average_but_not_the_prediction():
    torch.manual_seed(0)
    net = MLP(5, 16, 3, p_drop=0.5)
    x = torch.randn(4, 5)
    net.eval()
    with torch.no_grad():
        eval_hidden = torch.relu(net.fc1(x))
        eval_out = net(x)
        net.train()
        passes = 20000  # all in one batch: x repeated
        hidden = net.drop(eval_hidden.repeat(passes, 1)).reshape(passes, 4, 16).mean(0)
        outs = net(x.repeat(passes, 1)).reshape(passes, 4, 3).mean(0)
    assert torch.allclose(hidden, eval_hidden, atol=0.03)  # the layer right after: unbiased
    assert float((outs - eval_out).abs().max()) > 0.05  # after further ReLUs: biased


class _Noise(Dataset):
    """Each item reports the random numbers its worker draws."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.tensor([torch.rand(()).item(), random.random(), np.random.rand()])


def _draws(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(_Noise(), batch_size=2, num_workers=2, generator=generator,
                        multiprocessing_context="fork")
    return torch.cat(list(loader))


@pytest.mark.slow
def test_workers_are_seeded_from_the_loaders_generator():
    first, again, other = _draws(0), _draws(0), _draws(1)
    assert torch.equal(first, again)  # torch, random and NumPy repeat in every worker
    assert not torch.equal(first, other)
    assert len(set(first[:, 2].tolist())) == 4  # NumPy differs between the workers' items
