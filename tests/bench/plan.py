"""What one `make bench` run does: the chosen scenarios, their sizes, a scratch directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Plan:
    work: Path  # scratch space: data directories of every system, removed afterwards
    quick: bool = False

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def fresh_dir(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=False)
        return path
