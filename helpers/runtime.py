"""Seeding and device choice: the two things every notebook does first."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (CPU and all GPUs).

    Taught in Problem 1, section 9. Seeding makes a run repeat on the same
    machine and software; it does not make CPU and GPU, or two library
    versions, give bit-identical numbers.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)


def pick_device(name: str = "auto") -> torch.device:
    """Return the device to train on.

    ``"auto"`` picks ``cuda`` if a CUDA GPU is usable, then ``mps`` (Apple
    silicon), then ``cpu``. Any other value is passed to :class:`torch.device`
    after checking that it is available, so a typo or a missing GPU gives a
    clear error instead of a failure deep inside training.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(
            f"device={name!r} is not a device name; use 'auto', 'cpu', 'cuda' or 'mps'"
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is usable here; use device='auto' or 'cpu'")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device='mps' was asked for but MPS is not available here; use device='auto' or 'cpu'")
    return device
