"""Warnings a decision carries: what it assumed, and what the clerk should check."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecisionWarning:
    """A machine-readable code and a sentence for the person reading the decision."""

    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}
