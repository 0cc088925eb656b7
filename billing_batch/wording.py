"""Counts as staff read them: "1 problem", "2 problems", never "2 problem(s)"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, the noun in the plural unless n is 1 (e.g. counted(2, "inbox file"))."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
