"""`--embeddings`: also write each scored image's embedding, `embeddings*.parquet`.

(Beam and the stages are imported where the graph is built: declaring the flag must not
load them, `bucketscore --help` stays fast.)
"""

from __future__ import annotations

from bucketscore.errors import UsageError
from bucketscore.pipelines.flags import option

FLAG = option(
    "embeddings",
    False,
    action="store_true",
    help="also write embeddings*.parquet (bundle must export embeddings)",
)


def check(config) -> None:
    """The options alone."""
    if config.embeddings and config.incremental:
        raise UsageError(
            "--embeddings cannot be combined with --incremental yet: unchanged "
            "images would have no embedding rows"
        )


def check_bundle(config, meta) -> None:
    """With the bundle's model.json: it must export embeddings."""
    if config.embeddings and not meta.has_embeddings:
        raise UsageError(f"--embeddings: the bundle {config.model} does not export embeddings")


def sinks(outputs, plan) -> list:
    """ModelOutput -> [the embeddings sink's file names], or [] without --embeddings."""
    if not plan.config.embeddings:
        return []
    import apache_beam as beam

    from bucketscore.transforms.prediction_rows import embedding_row
    from bucketscore.transforms.sinks import WriteEmbeddings

    dim = int(plan.meta.extra.get("embedding_dim") or 0)
    return [
        outputs
        | "ToEmbeddingRows" >> beam.Map(embedding_row)
        | "WriteEmbeddings" >> WriteEmbeddings(plan.target.run_uri, dim, plan.shards)
    ]


def describe(plan) -> str:
    return "embeddings*.parquet" if plan.config.embeddings else ""
