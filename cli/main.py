"""The `bucketscore` command line: builds the parser from cli/commands/*.

Exit status: 0 the command (run) completed; 1 it failed; 2 the command was wrong.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import textwrap
from typing import Optional

# TensorFlow's C++ start-up chatter is noise on a command line; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bucketscore.cli.commands import COMMANDS
from bucketscore.errors import UsageError
from bucketscore.pipelines.redaction import scrub, secret_values


class _LogFilter(logging.Filter):
    """Keeps secrets out of every log line."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message, self._secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class _ScrubbingStream:
    """A text stream that replaces secrets before writing (for stdout/stderr)."""

    def __init__(self, stream, secrets: list[str]):
        self._stream = stream
        self._secrets = secrets

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def write(self, text: str) -> int:
        return self._stream.write(self.scrub(text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _commands() -> dict:
    return {name: importlib.import_module(f"bucketscore.cli.commands.{name}") for name in COMMANDS}


def build_parser(commands: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bucketscore",
        description="Score buckets of images with an image classifier, in batch, on Apache "
        "Beam; write predictions, accuracy summaries and errors back.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            examples:
              bucketscore demo                      # build the demo model and images
              bucketscore score --input demo_data/digits/ --model models/digits --output results/
              bucketscore classify photo.jpg --model models/digits   # one image, no pipeline
              bucketscore serve --model models/digits --port 8080     # a scoring URL (HTTP)
              bucketscore download results/<run_id>/ results/
            Run `bucketscore COMMAND --help` for each command's options and examples."""),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log Beam's progress")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in commands.items():
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            epilog=module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
    return parser


# Commands that may load TensorFlow in this process (score sends such lines to its log).
LOADS_TENSORFLOW = ("demo", "train", "tune", "export", "classify")


def own_options(parser: argparse.ArgumentParser, command: str) -> list[str]:
    """The option strings of one subcommand (--top_k, --no-onnx, ...)."""
    from bucketscore.private_apis import option_strings, subcommand_parser

    return option_strings(subcommand_parser(parser, command))


def _normal(flag: str) -> str:
    return flag.split("=", 1)[0].lower().replace("-", "_").strip("_")


def _same_option(flag: str, own: list[str]) -> Optional[str]:
    """The command's own option that `flag` is but for dashes, underscores or case
    (`--top-k` for `--top_k`, `--no_onnx` for `--no-onnx`), if any."""
    name = flag.split("=", 1)[0]
    if name in own:
        return None
    return next((o for o in own if _normal(o) == _normal(name)), None)


def with_suggestions(message: str, own: list[str]) -> str:
    """An "unknown option(s): ..." message with the nearest own option of each, when one is
    near (spelling, dashes for underscores)."""
    import difflib

    prefix = "unknown option(s): "
    if not message.startswith(prefix):
        return message
    flags_text, _, rest = message[len(prefix) :].partition(" (")
    hints = []
    for flag in flags_text.split():
        name = flag.split("=", 1)[0]
        near = _same_option(name, own) or next(
            iter(difflib.get_close_matches(name, own, n=1, cutoff=0.75)), None
        )
        if near:
            hints.append((name, near))
    if len(hints) == 1:
        flags_text += f" (did you mean {hints[0][1]}?)"
    elif hints:
        flags_text += " (did you mean " + ", ".join(f"{n} for {f}" for f, n in hints) + "?)"
    return prefix + flags_text + (f" ({rest}" if rest else "")


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _commands()
    parser = build_parser(commands)
    args, extra = parser.parse_known_args(argv)
    secrets = secret_values(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    log_filter = _LogFilter(secrets)  # removed in `finally` below
    for handler in logging.getLogger().handlers:
        handler.addFilter(log_filter)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ScrubbingStream(out, secrets), _ScrubbingStream(err, secrets)
    own = own_options(parser, args.command)
    try:
        misspelt = [f for f in extra if f.startswith("--") and _same_option(f, own)]
        if misspelt:
            raise UsageError(f"unknown option(s): {' '.join(misspelt)}")
        if args.command in LOADS_TENSORFLOW:
            from bucketscore.cli.quiet_stderr import filtered_stderr

            with filtered_stderr():
                return commands[args.command].run(args, extra)
        return commands[args.command].run(args, extra)
    except UsageError as e:
        print(
            f"bucketscore {args.command}: error: {with_suggestions(str(e), own)}", file=sys.stderr
        )
        return 2
    except BrokenPipeError:
        # The reader went away (`bucketscore classify ... | head -1`): stop, quietly, as
        # Unix tools do; stdout goes nowhere so that the exit flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        return 1
    finally:
        sys.stdout, sys.stderr = out, err
        for handler in logging.getLogger().handlers:
            handler.removeFilter(log_filter)


if __name__ == "__main__":
    sys.exit(main())
