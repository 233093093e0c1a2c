"""Element types that travel between the stages.

Plain dataclasses of built-in types and one uint8 numpy array: cheap to pickle, and the
pixels stay uint8 (4x smaller than float32) all the way to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from bucketscore.storage.listing import ListedObject

ERRORS_TAG = "errors"


@dataclass(frozen=True)
class ListedImage(ListedObject):
    """One object found by listing (uri, base = the input prefix it was found under, size,
    mtime), with its true label once the labels stage has run."""

    true_label: Optional[str] = None

    def with_label(self, label: Optional[str]) -> "ListedImage":
        return replace(self, true_label=label)


@dataclass(frozen=True)
class ImageBytes:
    image: ListedImage
    data: bytes


@dataclass(frozen=True, eq=False)
class ImageExample:
    """A decoded image, ready for the model: pixels uint8 [H, W, C] in the bundle's size."""

    image: ListedImage
    pixels: np.ndarray
    width: int  # of the original image, after EXIF orientation
    height: int
    sha256: str = ""  # of the object's bytes: how duplicate images are found

    @property
    def uri(self) -> str:
        return self.image.uri


@dataclass(frozen=True)
class ErrorRow:
    """An image that could not be scored, and why. `stage` names the step that failed."""

    uri: str
    stage: str
    error: str

    def as_dict(self) -> dict:
        return {"uri": self.uri, "stage": self.stage, "error": self.error}


@dataclass(frozen=True)
class ModelOutput:
    """What the model said of one image (or why it could not say anything)."""

    example: ImageExample
    probabilities: Optional[np.ndarray] = None
    embedding: Optional[np.ndarray] = None
    error: Optional[str] = None
    extra: dict = field(default_factory=dict)
