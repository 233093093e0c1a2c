"""The Beam stages of the scoring pipeline, one module per stage, in flow order:

listing -> labels -> (incremental) -> concurrent_reading -> decoding -> inference ->
prediction_rows -> summarising / report_items / sinks -> finishing

`records` holds the element types that travel between them (and the one errors tag);
`counters` the `bucketscore` Beam metrics counters every stage increments; `launch_values`
the values a classic template takes at launch; `prepare_run_folder` clears a re-used run
folder inside a template's job; `reading` is the one-read-at-a-time reference the read
stage is tested against. Each stage is a thin layer over a Beam-free module
(bucketscore.storage, bucketscore.model_export, bucketscore.run_folder).
"""
