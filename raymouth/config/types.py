"""The value types of settings: bounds declared in the config tree's annotations, checked on load."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric setting, declared as ``Annotated[int, Range(min=1)]``; checked on load."""

    min: float | None = None  # inclusive
    max: float | None = None  # inclusive
    gt: float | None = None  # exclusive lower bound
    lt: float | None = None  # exclusive upper bound

    def problem(self, value: float) -> str | None:
        if self.min is not None and value < self.min:
            return f"at least {self.min:g}"
        if self.gt is not None and value <= self.gt:
            return f"greater than {self.gt:g}"
        if self.max is not None and value > self.max:
            return f"at most {self.max:g}"
        if self.lt is not None and value >= self.lt:
            return f"less than {self.lt:g}"
        return None


PosInt = Annotated[int, Range(min=1)]
NonNegInt = Annotated[int, Range(min=0)]
PosFloat = Annotated[float, Range(gt=0)]
NonNegFloat = Annotated[float, Range(min=0)]
Share = Annotated[float, Range(min=0, max=1)]  # a probability or fraction
JpegQuality = Annotated[int, Range(min=1, max=100)]
ImageFormat = Literal["png", "jpeg"]
