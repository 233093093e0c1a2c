"""A user's PyTorch model (a `torch.export` program) as a bundle: `bucketscore export --torch`.

Every bundle's model takes uint8 images `[N, H, W, C]` and returns `probabilities` `[N, K]`
(and `embeddings` `[N, D]`). A PyTorch classifier takes floats `[N, C, H, W]`, scaled its
own way (or uint8 images, its preprocessing inside), and returns logits or scores. `wrap`
puts it behind a module that does the rest:

    images uint8 NHWC -> [float, x * a + b per channel (the --scale/--mean/--std/--preprocess
        of model_export.scaling, folded as for ONNX imports)] -> [NCHW] -> the user's program
        -> output i -> Flatten -> [Softmax] -> probabilities (and output j -> embeddings)

The wrapped module is exported again with `torch.export` (the bundle's `model.pt2`, what
`--backend torch` runs) and converted to ONNX (the bundle's `model.onnx`, parity-checked
against it: what `--backend auto` runs on CPUs without loading torch). Only programs saved
with `torch.export.save` are read: a TorchScript file is refused with how to re-save it.
Needs the `torch` extra and `onnx` (the `train` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from bucketscore.bundle.torch_runtime import torch_module
from bucketscore.model_export.onnx_import import LAYOUTS, affine, image_layout
from bucketscore.model_export.scaling import Scaling

FLOAT_TYPES = ("float32", "float16", "bfloat16", "float64")
MAX_BATCH = 4096  # the bundle program's batch dimension: 1..MAX_BATCH (unless the user's is fixed)


class TorchImportError(ValueError):
    """The program cannot be wrapped as a bundle; the message says why and what to do."""


@dataclass(frozen=True)
class ProgramInput:
    """The program's image input: dtype name, layout, shape in NHWC order (None: dynamic),
    and the names of its outputs."""

    dtype: str
    layout: str  # nchw | nhwc
    nhwc: tuple
    outputs: tuple[str, ...]

    @property
    def uint8(self) -> bool:
        return self.dtype == "uint8"


def load(path: str):
    """The torch.export program saved at `path` (a local file)."""
    import logging

    torch = torch_module()
    logger = logging.getLogger("torch.export")  # its warnings about a file it cannot read
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return torch.export.load(path)
    except Exception as e:  # noqa: BLE001 - anything else than a saved program
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        hint = ""
        try:
            torch.jit.load(path)
            hint = (
                ": it is a TorchScript file; export the model instead: "
                "torch.export.save(torch.export.export(model.eval(), (example,)), 'model.pt2')"
            )
        except Exception:  # noqa: BLE001 - not TorchScript either
            pass
        raise TorchImportError(
            f"{path} is not a program saved with torch.export.save ({text}){hint}"
        ) from None
    finally:
        logger.setLevel(level)


def program_input(program, layout: str = "auto") -> ProgramInput:
    """The program's one image input (layout detected from the channel dimension, or as
    given) and its outputs; TorchImportError when it is no image classifier's input."""
    if layout not in LAYOUTS:
        raise TorchImportError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    sig = program.graph_signature
    users = [s.arg.name for s in sig.input_specs if s.kind.name == "USER_INPUT"]
    if len(users) != 1:
        raise TorchImportError(
            f"the program takes {len(users)} inputs ({', '.join(users) or 'none'}); an "
            f"image classifier takes one image batch"
        )
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == users[0])
    value = node.meta.get("val")
    shape = tuple(getattr(value, "shape", ()) or ())
    dims = [int(d) if isinstance(d, int) else None for d in shape]
    dtype = str(getattr(value, "dtype", "")).replace("torch.", "")
    if dtype not in FLOAT_TYPES + ("uint8",):
        raise TorchImportError(
            f"the program's input is {dtype or 'unknown'}; bucketscore wraps models that take "
            f"float images ({', '.join(FLOAT_TYPES)}) or uint8 images"
        )
    try:
        layout, nhwc = image_layout(dims, layout, "the program's input")
    except ValueError as e:
        raise TorchImportError(str(e)) from None
    return ProgramInput(dtype=dtype, layout=layout, nhwc=nhwc, outputs=tuple(sig.user_outputs))


def _output_index(inp: ProgramInput, key: Optional[Union[str, int]], flag: str, what: str) -> int:
    """The position of the output `key` (an index or a name the program gives it)."""
    names = list(inp.outputs)
    if key is None:
        if len(names) != 1:
            raise TorchImportError(
                f"the program has {len(names)} outputs ({', '.join(names)}); name the {what} "
                f"with {flag} (a position, 0-based, or one of those names)"
            )
        return 0
    if str(key).isdigit() and int(key) < len(names):
        return int(key)
    if key in names:
        return names.index(key)
    raise TorchImportError(
        f"{flag} {key}: the program has no such output (outputs: "
        f"{', '.join(f'{i}: {n}' for i, n in enumerate(names))})"
    )


def wrapper(
    program,
    inp: ProgramInput,
    channels: int,
    scaling: Scaling,
    *,
    softmax: bool = False,
    output_key=None,
    embedding_output=None,
):
    """(an nn.Module: uint8 NHWC images -> (probabilities[, embeddings]), facts for
    model.json). A uint8 program gets the images as they are: no scaling (refused if given)."""
    torch = torch_module()

    out_index = _output_index(inp, output_key, "--output_key", "class scores output")
    emb_index = (
        _output_index(inp, embedding_output, "--embedding_output", "embeddings")
        if embedding_output is not None
        else None
    )
    if emb_index == out_index:
        raise TorchImportError("--embedding_output names the class scores output")
    if inp.uint8 and not scaling.is_identity:
        raise TorchImportError(
            "the program takes uint8 images: its preprocessing is inside it; --scale, "
            "--offset, --mean, --std and --preprocess do not apply"
        )
    reverse, mul, add = affine(scaling, channels) if not inp.uint8 else (False, [], [])
    dtype = getattr(torch, inp.dtype)
    inner = program.module()

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner
            self.register_buffer("mul", torch.tensor(mul or [1.0], dtype=torch.float32))
            self.register_buffer("add", torch.tensor(add or [0.0], dtype=torch.float32))

        def forward(self, images):
            x = images
            if not inp.uint8:
                x = x.to(torch.float32)
                if reverse:
                    x = x.flip(3)
                x = (x * self.mul + self.add).to(dtype)
            if inp.layout == "nchw":
                x = x.permute(0, 3, 1, 2)
            outs = self.inner(x)
            outs = outs if isinstance(outs, (tuple, list)) else (outs,)
            scores = torch.flatten(outs[out_index], 1).to(torch.float32)
            probabilities = torch.softmax(scores, 1) if softmax else scores
            if emb_index is None:
                return (probabilities,)
            return probabilities, torch.flatten(outs[emb_index], 1).to(torch.float32)

    facts = {
        "layout": inp.layout,
        "input": {"dtype": inp.dtype, "batch": inp.nhwc[0]},
        "outputs": list(inp.outputs),
        "output_key": inp.outputs[out_index],
        "embedding_output": inp.outputs[emb_index] if emb_index is not None else None,
        "scaling": "none: the program takes uint8 images" if inp.uint8 else "in the wrapper",
    }
    return Wrapped(), facts  # no .eval(): an exported program has no train mode to leave


def export_program(module, height: int, width: int, channels: int, path: str) -> dict:
    """Export the wrapped module with torch.export (a dynamic batch unless the user's
    program fixed it) and save it at `path`; returns {"batch": {"min", "max"}}."""
    torch = torch_module()

    example = torch.zeros((2, height, width, channels), dtype=torch.uint8)
    try:
        program = torch.export.export(
            module, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},)
        )
    except Exception as e:  # noqa: BLE001 - one line: what torch.export says
        raise TorchImportError(f"torch.export of the wrapped model failed: {_first(e)}") from None
    torch.export.save(program, path)
    if not program.range_constraints:  # the user's program fixed its batch size: feed that
        return {"batch": _fixed_batch(program)}
    high = MAX_BATCH
    for rng in program.range_constraints.values():
        try:
            high = min(high, int(rng.upper))
        except (TypeError, ValueError):  # unbounded
            pass
    return {"batch": {"min": 1, "max": high}}


def _fixed_batch(program) -> dict:
    users = [s.arg.name for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name in users)
    n = int(node.meta["val"].shape[0])
    return {"min": n, "max": n}


def export_onnx(
    module, height: int, width: int, channels: int, path: str, embeddings: bool, opset: int = 17
) -> None:
    """The wrapped module as ONNX (TorchScript-based exporter: needs `onnx`, not onnxscript):
    uint8 `images` in, `probabilities` (and `embeddings`) out, a dynamic batch."""
    import warnings

    torch = torch_module()

    example = torch.zeros((2, height, width, channels), dtype=torch.uint8)
    outputs = ["probabilities"] + (["embeddings"] if embeddings else [])
    try:
        with warnings.catch_warnings():
            # The exporter's deprecation and tracer notes: not news to a user (the parity
            # check that follows is what says the conversion is right).
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                path,
                dynamo=False,
                training=torch.onnx.TrainingMode.PRESERVE,  # an exported program has no train()
                input_names=["images"],
                output_names=outputs,
                dynamic_axes={name: {0: "N"} for name in ["images", *outputs]},
                opset_version=opset,
            )
    except Exception as e:  # noqa: BLE001 - one line: what the exporter says
        raise TorchImportError(
            f"converting to ONNX failed: {_first(e)} (pass --no-onnx to bundle the "
            f"PyTorch program alone)"
        ) from None


def _first(e: BaseException) -> str:
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(e).__name__
