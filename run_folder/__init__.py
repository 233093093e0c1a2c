"""What a run folder `<output>/<run_id>/` is, in one Beam-free place.

* `layout`: file names, `_SUCCESS`, "is this a run folder", clearing a re-used one;
* `schemas`: the columns of the predictions/errors/embeddings/objects tables, CSV cells;
* `accuracy`: the accuracy, precision/recall/F1 and confusion formulas (one implementation);
* `summary`: summary.json, per_class.csv, confusion_matrix.csv, manifest.json documents;
* `finish`: writing them in order, `_SUCCESS` last, or failing the run (`RunFailed`);
* `report_page`, `report_figures`, `report_selection`, `thumbnails`: report.html;
* `state`: what `--incremental` builds on (the last completed run per model version);
* `history`, `comparison`, `download`: reading runs back (`runs`, `compare`, `download`).

The pipeline's Beam stages (bucketscore.transforms) are thin layers over these modules.
Imports: bucketscore.storage and bucketscore.errors only.
"""
