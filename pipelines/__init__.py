"""The scoring run: options, its plan, its graph, running it.

* `options`: every `score` option, declared once (ScoreConfig); `flags`: how an option is
  declared; `validators`: argparse checks shared by every command; `beam_options`: Beam flags
  on a command line; `redaction`: secrets never shown;
* `plan`: `plan(config) -> RunPlan`, every decision of a run made once, from the parts
  `runners` (which runner: local, portable, Dataflow, a template build), `inference_plan`
  (backend, device, batch size, model copies) and `workers` (worker processes and threads on
  one machine);
* `features/`: the optional parts of a run, each owning its flags, checks and graph piece
  (labels and manifests, embeddings, incremental runs, templates);
* `graph`: `build_pipeline(p, plan)`, wiring the transforms/ stages (nothing else);
* `run`: running a plan (verify the bundle, prepare the run folder, run, complete);
  `progress`: the live progress line; `version`: the code version a run records.

The command line that calls these is bucketscore.cli.
"""
