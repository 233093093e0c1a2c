"""pipelines.flags: `option(...)` gives a dataclass field that carries its Flag: defaults
(a factory for non-primitive ones), what argparse shows as the default, conversion and
recording, and the rest of the flag as given."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bucketscore.bundle.label_sources import LabelSource
from bucketscore.pipelines.flags import Flag, option


def _upper(text: str) -> str:
    return text.upper()


@dataclass(frozen=True)
class Options:
    count: int = option("count", 3, type=int, metavar="N", help="how many")
    name: str = option("name", "", required=True, help="a name")
    shout: str = option("shout", "x", convert=_upper, help="converted")
    source: LabelSource = option(
        "source", LabelSource("folder"), convert=LabelSource.parse, cli_default="folder", help="s"
    )
    where: tuple = option("where", (), run_needs=True, record=list, nargs="+", help="places")
    maybe: object = option("maybe", None, cli_default="auto", help="explicit cli default")


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(Options)}


def _flag(name: str) -> Flag:
    return _fields()[name].metadata["flag"]


def test_a_primitive_default_is_the_fields_default():
    f = _fields()["count"]
    assert f.default == 3 and f.default_factory is dataclasses.MISSING
    flag = _flag("count")
    assert (flag.name, flag.help) == ("count", "how many")
    assert flag.argparse == {"type": int, "metavar": "N"}  # handed to add_argument as given
    assert flag.cli_default == 3  # the parsed value is the field value: argparse shows it
    assert not flag.required and not flag.run_needs
    assert flag.convert("7") == "7" and flag.record(7) == 7  # unchanged by default


def test_a_non_primitive_default_comes_from_a_factory():
    f = _fields()["source"]
    assert f.default is dataclasses.MISSING
    assert f.default_factory() == LabelSource("folder")
    assert Options().source == LabelSource("folder")  # the dataclass accepts it
    assert _flag("source").cli_default == "folder"  # as typed on a command line


def test_a_converted_option_shows_no_default_unless_given():
    assert _flag("shout").cli_default is None  # "x" is a field value, not a command line's
    assert _flag("shout").convert("loud") == "LOUD"
    assert _flag("maybe").cli_default == "auto"


def test_required_run_needs_and_record():
    assert _flag("name").required and not _flag("name").run_needs
    where = _flag("where")
    assert where.run_needs and not where.required
    assert where.record(("a", "b")) == ["a", "b"]
    assert where.argparse == {"nargs": "+"}
    assert Options().where == ()
