"""Alternating rounds of per-operation figures, and their medians side by side."""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from collections.abc import Callable

__all__ = ["run_rounds"]


def run_rounds(
    implementations: list[str],
    rounds: int,
    measure: Callable[[str], dict[str, float]],
    *,
    title: str,
    unit: str = "",
    digits: int = 1,
    column: str = "figure",
) -> None:
    """Measure each implementation in turn for *rounds* rounds; print each round, then medians.

    With two implementations, the last column is the first's median over the second's.
    """
    figures: dict[str, dict[str, list[float]]] = {
        name: defaultdict(list) for name in implementations
    }
    for number in range(rounds):
        for implementation in implementations:
            measured = measure(implementation)
            print(
                f"round {number + 1} {implementation:9s} "
                + ", ".join(f"{key} {value:.{digits}f}{unit}" for key, value in measured.items()),
                file=sys.stderr,
                flush=True,
            )
            for key, value in measured.items():
                figures[implementation][key].append(value)
    print(f"\n{title}, median of {rounds} round(s)\n")
    print(f"{column:22} " + " ".join(f"{name:>10}" for name in implementations))
    for key in figures[implementations[0]]:
        medians = [statistics.median(figures[name][key]) for name in implementations]
        ratio = f"  {medians[0] / medians[1]:.2f}x" if len(medians) == 2 and medians[1] else ""
        print(f"{key:22} " + " ".join(f"{value:10.{digits}f}" for value in medians) + ratio)
