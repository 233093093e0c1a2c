"""The JSON that `bucketscore serve` reads and writes: TF Serving's and Vertex AI's format.

Request (`POST /v1/models/<name>:predict`), as TF Serving's REST API and Vertex AI
endpoints take images:

    {"instances": [{"b64": "<base64 image bytes>"},
                   {"image_bytes": {"b64": "..."}}],      # as Vertex writes it
     "parameters": {"top_k": 3}}                           # optional

An instance may also be an object with one key whose value is {"b64": ...} (a named input,
as TF Serving writes it for a signature's input name). Response:

    {"predictions": [{"labels": ["7", "1", ...], "scores": [0.98, 0.01, ...],
                      "width": 8, "height": 8},
                     {"error": "...", "stage": "decode"}]}      # a bad image, in its place

Nothing here knows HTTP; cli.serving maps RequestError to 400.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from dataclasses import dataclass
from typing import Optional, Union

from bucketscore.bundle.meta import BundleMeta

FORMS = '{"b64": ...}, {"image_bytes": {"b64": ...}} or {"<input name>": {"b64": ...}}'


class RequestError(ValueError):
    """A request that cannot be answered at all (malformed JSON, no instances, ...)."""


@dataclass(frozen=True)
class BadInstance:
    """An instance whose bytes could not be had (not base64): answered with an error."""

    stage: str
    error: str


@dataclass(frozen=True)
class PredictRequest:
    """The image bytes of each instance (or why there are none) and the top_k asked for."""

    images: list[Union[bytes, BadInstance]]
    top_k: Optional[int]


def parse_predict_request(body: bytes) -> PredictRequest:
    """The request body -> PredictRequest; RequestError (one line) when it is not a JSON
    object with a non-empty `instances` list of the accepted forms, or `parameters.top_k`
    is not a positive integer."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestError(f"the body is not JSON: {e}") from None
    if not isinstance(doc, dict) or "instances" not in doc:
        got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise RequestError(f'the body must be a JSON object with "instances" (got {got})')
    instances = doc["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError('"instances" must be a non-empty list')
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise RequestError('"parameters" must be an object')
    return PredictRequest(
        images=[_instance_bytes(i, x) for i, x in enumerate(instances)],
        top_k=parse_top_k(params.get("top_k")),
    )


def parse_top_k(value) -> Optional[int]:
    """None (the server's default) or a positive int; RequestError otherwise. Accepts the
    digits of a query string too."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(f"top_k must be a positive integer, not {value!r}")
    return value


def _instance_bytes(index: int, instance) -> Union[bytes, BadInstance]:
    b64 = _b64_of(instance)
    if b64 is None:
        raise RequestError(
            f"instance {index} is not an image: each instance must be {FORMS} "
            f"(got {json.dumps(instance)[:80]})"
        )
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as e:
        return BadInstance("read", f"the b64 value is not base64 ({e})")


def _b64_of(instance) -> Optional[str]:
    if not isinstance(instance, dict):
        return None
    if set(instance) == {"b64"} and isinstance(instance["b64"], str):
        return instance["b64"]
    if len(instance) == 1:
        (value,) = instance.values()
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            return value["b64"]
    return None


def prediction(labels: list[str], scores: list[float], width: int, height: int) -> dict:
    """One answered instance."""
    return {"labels": labels, "scores": scores, "width": width, "height": height}


def failure(stage: str, error: str) -> dict:
    """One instance that could not be answered: where (read, decode, inference) and why."""
    return {"error": error, "stage": stage}


def model_metadata(meta: BundleMeta, backend: str, device: str) -> dict:
    """`GET /v1/models/<name>`: TF Serving's model_version_status, and what a caller needs
    to send images and read the answers (labels, input size and preprocessing)."""
    return {
        "name": meta.name,
        "version": meta.version,
        "model_version_status": [
            {
                "version": meta.version,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ],
        "labels": list(meta.labels),
        "input": dataclasses.asdict(meta.input),
        "backend": backend,
        "device": device,
    }
