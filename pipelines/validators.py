"""The argparse value checks every `bucketscore` command uses.

One set, named by what they accept, so that the same kind of value is checked the same way
in every command (a probability may be 0 or 1; a held-out share must leave something).
"""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """1, 2, 3, ..."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def at_most(limit: int, what: str):
    """positive_int with an upper bound (what the bound is, said in the error)."""

    def check(text: str) -> int:
        value = positive_int(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit:,} ({what}), not {text}")
        return value

    check.__name__ = "positive_int"  # argparse names the type in its messages
    return check


def non_negative_int(text: str) -> int:
    """0, 1, 2, ..."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def positive_float(text: str) -> float:
    """Any number above 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def non_negative_float(text: str) -> float:
    """0 or any number above."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def probability(text: str) -> float:
    """A probability or a ratio: 0 to 1, both included (--min_confidence, --max_error_ratio,
    --max_accuracy_drop)."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def fraction_below_one(text: str) -> float:
    """A fraction that must leave something: 0 included, 1 not (--validation_fraction,
    --test_fraction, --dropout)."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value
