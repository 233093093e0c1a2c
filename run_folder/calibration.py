"""Calibration: do the model's probabilities mean what they say?

Over the labelled images, equal-width bins of the top-1 probability (confidence) m = 1..M
(M = BINS = 10: [0, 0.1), ..., [0.9, 1.0]); in each, n_m images, their accuracy acc_m (the
share whose top-1 label is the true one) and mean confidence conf_m:

    ECE = sum_m (n_m / N) * |acc_m - conf_m|        (expected calibration error)
    MCE = max over non-empty m of |acc_m - conf_m|  (maximum calibration error)

0 is perfect: images predicted with 0.8 are right 80% of the time. Per class the same
figures over the images the model predicts as that class (top-1). Computed from the run's
accumulator (run_folder/accuracy.py): counts, correct counts and confidence sums per bin.
"""

from __future__ import annotations

from typing import Optional, Sequence

BINS = 10


def equal_width_bin(confidence: float) -> int:
    """Bin m (0-based) of a confidence: [m/M, (m+1)/M), 1.0 in the last."""
    return min(BINS - 1, max(0, int(float(confidence) * BINS)))


def errors(count: Sequence[int], correct: Sequence[int], confidence_sum: Sequence[float]) -> dict:
    """Per-bin sums -> {ece, mce, images, bins: [{low, high, images, accuracy,
    confidence}]}; ece/mce None without images."""
    total = sum(count)
    ece, mce, bins = 0.0, 0.0, []
    for m in range(BINS):
        n = count[m]
        accuracy = correct[m] / n if n else None
        mean = confidence_sum[m] / n if n else None
        bins.append(
            {
                "low": round(m / BINS, 4),
                "high": round((m + 1) / BINS, 4),
                "images": n,
                "accuracy": accuracy,
                "confidence": mean,
            }
        )
        if n:
            gap = abs(accuracy - mean)
            ece += n / total * gap
            mce = max(mce, gap)
    return {
        "ece": ece if total else None,
        "mce": mce if total else None,
        "images": total,
        "bins": bins,
    }


def class_errors(per_class: dict[str, dict[int, list]]) -> dict[str, dict]:
    """{predicted label: {bin: [count, correct, confidence sum]}} (sparse) -> {label:
    {ece, mce, images}}."""
    out = {}
    for label, bins in per_class.items():
        count = [0] * BINS
        correct = [0] * BINS
        sums = [0.0] * BINS
        for m, (n, c, s) in bins.items():
            count[m], correct[m], sums[m] = n, c, s
        figures = errors(count, correct, sums)
        out[label] = {k: figures[k] for k in ("ece", "mce", "images")}
    return out


def described(figures: Optional[dict]) -> str:
    """One line for a person: "ECE 0.021, MCE 0.110 over 450 labelled images"."""
    if not figures or figures.get("ece") is None:
        return "no labelled images: no calibration figure"
    return (
        f"ECE {figures['ece']:.3f}, MCE {figures['mce']:.3f} over {figures['images']} "
        f"labelled images (0 = probabilities mean what they say)"
    )
