"""Values known at launch, not when the graph is built: what a classic Dataflow template varies.

A classic template serialises the job graph once; each launch can only fill in Beam
`ValueProvider`s. The run's inputs, output prefix and run id are therefore passed through
the graph as values that stages read with `value_of` when they run, never at construction:
plain values for an ordinary run, `RuntimeValueProvider`s in a template (read from the
launch's parameters on the workers while the job runs).

`Derived` computes a value from others at run time (the run folder from output and run id),
once per process, which Beam's `NestedValueProvider` (one input) cannot.
"""

from __future__ import annotations

import shlex
from typing import Any, Callable, Optional

from apache_beam.options.value_provider import RuntimeValueProvider, ValueProvider

from bucketscore.run_folder.layout import run_uri as run_folder_uri
from bucketscore.storage import uris


class LaunchValueError(ValueError):
    """A launch parameter is missing or wrong (the job fails with this message)."""


def value_of(value: Any) -> Any:
    """The value itself: `.get()` of a ValueProvider, anything else as it is."""
    return value.get() if isinstance(value, ValueProvider) else value


class Derived(ValueProvider):
    """fn(*values of parts), computed on first `get()` in each process (parts may be
    ValueProviders or plain values). `fn` must be a module-level function (pickled)."""

    def __init__(self, fn: Callable[..., Any], *parts: Any):
        self.fn = fn
        self.parts = parts

    def is_accessible(self) -> bool:
        return all(p.is_accessible() for p in self.parts if isinstance(p, ValueProvider))

    def get(self) -> Any:
        try:
            return self._cached
        except AttributeError:
            self._cached = self.fn(*(value_of(p) for p in self.parts))
            return self._cached

    def __getstate__(self):
        return {"fn": self.fn, "parts": self.parts}  # never ship a value computed here

    def __str__(self) -> str:
        return f"Derived({self.fn.__name__}, {', '.join(map(str, self.parts))})"


def input_list(value: Any) -> list[str]:
    """Input URIs from a tuple/list, or from one launch parameter: URIs separated by spaces,
    quoted as a shell would quote them (a URI may hold a space)."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = shlex.split(value or "")
    if not items:
        raise LaunchValueError(
            "no input: launch the template with input=URI (several: separated by spaces)"
        )
    return [uris.normalize(u) for u in items]


def run_uri(output: str, run_id: str) -> str:
    """The run folder: <output>/<run_id>/."""
    if not output:
        raise LaunchValueError("no output: launch the template with output=URI")
    return run_folder_uri(uris.normalize(output), run_id)


def join(prefix: str, name: str) -> str:
    return uris.join(prefix, name)


def output_uri(value: Optional[str]) -> str:
    return uris.normalize(value) if value else ""


def launch_run_id(given: Optional[str], build_job_name: str = "") -> str:
    """The run id of a template launch: the `run_id` parameter, else the launch's Dataflow
    job name (unique among running jobs; schedules name jobs by date). A job name equal to
    the one the template was built with is not the launch's own: refused, so that launches
    never share (and overwrite) one run folder."""
    run_id = (given or "").strip()
    if not run_id:
        run_id = (RuntimeValueProvider.get_value("job_name", str, "") or "").strip()
        if not run_id or run_id == build_job_name:
            raise LaunchValueError(
                "no run id: launch the template with the parameter "
                "run_id=NAME (or under a job name of its own)"
            )
    if "/" in run_id or run_id in (".", ".."):
        raise LaunchValueError(f"run_id {run_id!r}: must be a plain folder name")
    return run_id


class RunTarget:
    """Where a run reads and writes: inputs, output, run id and run folder. Each is a plain
    value or a ValueProvider (a template's launch parameter); read them with `value_of`
    when the job runs. Picklable."""

    def __init__(self, inputs: Any, output: Any, run_id: Any):
        self.inputs = Derived(input_list, inputs)
        self.output = Derived(output_uri, output)
        self.run_id = run_id
        self.run_uri = Derived(run_uri, output, run_id)

    @classmethod
    def static(cls, inputs, output: str, run_id: str) -> "RunTarget":
        """An ordinary run: everything known now."""
        return cls(tuple(inputs), output, run_id)

    @classmethod
    def at_launch(
        cls,
        build_job_name: str,
        input_default: Optional[str] = None,
        output_default: Optional[str] = None,
    ) -> "RunTarget":
        """A classic template: read from the launch parameters input, output, run_id
        (defaults: the values given when the template was built)."""
        return cls(
            RuntimeValueProvider("input", str, input_default or ""),
            RuntimeValueProvider("output", str, output_default or ""),
            Derived(launch_run_id, RuntimeValueProvider("run_id", str, ""), build_job_name),
        )
