"""Prediction rows whose threshold evidence is known by heart (for the threshold tests)."""

from __future__ import annotations


def ten_rows() -> list[dict]:
    """10 labelled cat images: confidence 0.05 .. 0.95, right from 0.55 up."""
    # 10 labelled images: confidence 0.05 .. 0.95, right from 0.55 up
    out = []
    for i in range(10):
        c = 0.05 + 0.1 * i
        right = c > 0.5
        out.append(
            {
                "uri": f"/i/{i}.png",
                "true_label": "cat",
                "predicted_label": "cat" if right else "dog",
                "confidence": c,
                "below_threshold": False,
                "top_k_labels": ["cat", "dog"] if right else ["dog", "cat"],
                "top_k_scores": [c, 1 - c],
                "true_label_score": c if right else 1 - c,
            }
        )
    return out
