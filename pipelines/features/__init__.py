"""The optional parts of a scoring run, each in one module that owns its flags, its checks
and its piece of the graph (as google/weather-tools' sinks each own theirs):

* `labels`: `--labels` (folder, regex, CSV, manifest, none) and manifest inputs; the CSV rows
  that name no listed image;
* `embeddings`: `--embeddings`, the embeddings sink;
* `incremental`: `--incremental`, the base run, carrying rows over, their sink, summary and
  report candidates;
* `label_checks`: `--no_label_checks`, `--max_suspects`, `--target_accuracy`: suspect
  labels and duplicate images after scoring, the threshold that reaches an accuracy;
* `selection`: `--exclude`, `--sample`, `--limit`: score part of what is listed;
* `template`: `--template_location` (a classic Dataflow template): launch parameters, the run
  folder prepared in the job, the metadata file.

Each module has `check(config)` (the options alone, when they are parsed: UsageError) and
`check_bundle(config, meta)` (what needs model.json or storage, when the run is planned);
`pipelines/options.py` declares the flags they define, `pipelines/plan.py` calls the checks,
`pipelines/graph.py` wires their pieces.
"""

from bucketscore.pipelines.features import (
    embeddings,
    incremental,
    label_checks,
    labels,
    selection,
    template,
)

FEATURES = (labels, selection, embeddings, incremental, label_checks, template)
