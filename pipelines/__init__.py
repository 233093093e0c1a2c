"""The scoring pipeline and the `bucketscore` command line.

* `options`: every `score` option, declared once (ScoreConfig); `validators`: argparse
  checks shared by every command; `beam_options`: Beam flags on a command line;
  `redaction`: secrets never shown;
* `graph`: `build_pipeline`, wiring the transforms/ stages (nothing else);
* `launcher`: starting a run (validation, inference choice, incremental base, templates,
  counters); `runtime_defaults`: workers and threads on one machine; `template`: classic
  Dataflow templates; `progress`: the live progress line;
* `cli` and `commands/`: one module per subcommand.
"""
