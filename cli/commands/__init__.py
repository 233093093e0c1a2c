"""One module per `bucketscore` subcommand.

Each module defines NAME, HELP, DESCRIPTION, EPILOG, `add_arguments(parser)` and
`run(args, extra) -> int` (exit status). `extra` holds the flags argparse did not know:
commands that accept Beam/storage options (`--s3_endpoint_url`, ...) validate them, the
others refuse them. Adding a command = adding a module and its name to COMMANDS.
"""

COMMANDS = ["score", "demo", "download", "runs", "compare", "threshold"]
COMMANDS += ["classify"]  # bundle.classify
COMMANDS += ["serve"]  # cli.serving, bundle.batching, bundle.serving_format
COMMANDS += ["export"]  # model_export.user_models
COMMANDS += ["train"]  # model_export.training
COMMANDS += ["tune"]  # model_export.tuning
COMMANDS += ["quantize"]  # model_export.quantizing
# model_flags: the options train, tune and export share (not a command).
