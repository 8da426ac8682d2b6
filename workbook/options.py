"""What a build was asked to do: the parameters every notebook gets, and the build's switches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpers import paths


@dataclass(frozen=True)
class Options:
    quick: bool = False
    seed: int = 0
    device: str = "auto"
    strict: bool = False  # missing student names are an error
    force: bool = False  # blank: overwrite edited copies
    partial: bool = False  # pdf: hand in what there is, marking what is not done
    notebooks: tuple[str, ...] = paths.NOTEBOOK_NAMES

    @property
    def parameters(self) -> dict[str, Any]:
        """The values papermill injects into each notebook's ``parameters`` cell."""
        return {"quick": self.quick, "seed": self.seed, "device": self.device}
