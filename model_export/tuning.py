"""`bucketscore tune`: hyperparameter search with KerasTuner, the best trial exported.

The search space covers what Watson Studio's experiments tune: learning rate, batch size,
epochs, dropout and (for transfer learning) fine-tune depth. Each flag takes a fixed value
(`0.001`), a list of choices (`16,32,64`) or a range (`1e-4:1e-2`, sampled log-uniformly
for the learning rate). KerasTuner's RandomSearch or BayesianOptimization proposes the
trials; the objective is validation accuracy. Every trial trains exactly as `bucketscore
train` does (same data, augmentation, early stopping, fine-tuning); its weights are kept
so the best one is exported without retraining.

The bundle gets `tuning/trials.csv` (one row per trial: hyperparameters, validation
accuracy and loss, epochs, seconds, status) and `tuning/trials.png`, besides the training
files of the best trial.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional, Union

from bucketscore.model_export.training import TrainConfig, TrainError

_log = logging.getLogger(__name__)

ALGORITHMS = ("random", "bayesian")
TUNING_DIR = "tuning"
Number = Union[int, float]


@dataclass(frozen=True)
class Param:
    """One hyperparameter: fixed, a list of choices, or a [low, high] range."""

    name: str
    kind: str  # fixed | choice | range
    values: tuple
    integer: bool = False
    log: bool = False

    @classmethod
    def parse(cls, name: str, text: str, integer: bool = False, log: bool = False) -> "Param":
        text = str(text).strip().replace(" ", "")
        conv = (lambda v: int(float(v))) if integer else float
        try:
            if ":" in text:
                low, high = (conv(v) for v in text.split(":", 1))
                if not low < high:
                    raise TrainError(f"--{name} {text}: a range needs low < high")
                if log and low <= 0:
                    raise TrainError(f"--{name} {text}: a log range must be positive")
                return cls(name, "range", (low, high), integer, log)
            values = tuple(conv(v) for v in text.split(",") if v)
        except ValueError:
            raise TrainError(
                f"--{name} {text!r}: expected a number, a list (a,b,c) or a range (low:high)"
            ) from None
        if not values:
            raise TrainError(f"--{name}: no value given")
        if len(set(values)) == 1:
            return cls(name, "fixed", values[:1], integer, log)
        return cls(name, "choice", tuple(dict.fromkeys(values)), integer, log)

    def declare(self, hp):
        if self.kind == "fixed":
            return hp.Fixed(self.name, self.values[0])
        if self.kind == "choice":
            return hp.Choice(self.name, list(self.values))
        low, high = self.values
        if self.integer:
            return hp.Int(self.name, low, high, sampling="log" if self.log else "linear")
        return hp.Float(self.name, low, high, sampling="log" if self.log else "linear")

    def describe(self) -> str:
        if self.kind == "range":
            return f"{self.values[0]:g}..{self.values[1]:g}" + (" (log)" if self.log else "")
        return ",".join(f"{v:g}" for v in self.values)


@dataclass
class SearchSpace:
    learning_rate: Param
    batch_size: Param
    epochs: Param
    dropout: Param
    fine_tune_layers: Optional[Param] = None

    @classmethod
    def parse(
        cls,
        learning_rate: str = "1e-4:1e-2",
        batch_size: str = "16,32,64",
        epochs: str = "10",
        dropout: str = "0.0:0.5",
        fine_tune_layers: Optional[str] = None,
    ) -> "SearchSpace":
        space = cls(
            learning_rate=Param.parse("learning_rate", learning_rate, log=True),
            batch_size=Param.parse("batch_size", batch_size, integer=True),
            epochs=Param.parse("epochs", epochs, integer=True),
            dropout=Param.parse("dropout", dropout),
            fine_tune_layers=(
                Param.parse("fine_tune_layers", fine_tune_layers, integer=True)
                if fine_tune_layers is not None
                else None
            ),
        )
        for p in (space.batch_size, space.epochs):
            if min(p.values) < 1:
                raise TrainError(f"--{p.name} values must be at least 1")
        if min(space.dropout.values) < 0 or max(space.dropout.values) >= 1:
            raise TrainError("--dropout values must be in [0, 1)")
        if space.fine_tune_layers is not None and min(space.fine_tune_layers.values) < 0:
            raise TrainError("--fine_tune_layers values must be >= 0")
        return space

    def params(self) -> list[Param]:
        return [
            p
            for p in (
                self.learning_rate,
                self.batch_size,
                self.epochs,
                self.dropout,
                self.fine_tune_layers,
            )
            if p is not None
        ]

    def describe(self) -> str:
        return "; ".join(f"{p.name} {p.describe()}" for p in self.params())


@dataclass
class TuneResult:
    meta: object
    trials: list[dict]
    best: dict
    seconds: float


def _make_tuner_class(algorithm: str):
    import keras_tuner as kt

    base = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization}[algorithm]

    class Search(base):
        """Runs each trial through bucketscore's own `fit`; keeps every trial's weights."""

        def __init__(self, *args, data, cfg: TrainConfig, space: SearchSpace, log, **kwargs):
            self.data, self.cfg, self.space, self.log = data, cfg, space, log
            self.records: dict[str, dict] = {}
            super().__init__(*args, **kwargs)

        def run_trial(self, trial, *args, **kwargs):
            from bucketscore.model_export.training import fit, make_dataset

            hp = trial.hyperparameters
            model = self.hypermodel.build(hp)
            values = dict(hp.values)
            started = time.monotonic()
            rows = fit(
                model,
                self.data,
                epochs=int(values["epochs"]),
                batch_size=int(values["batch_size"]),
                learning_rate=float(values["learning_rate"]),
                patience=self.cfg.patience,
                augment=self.cfg.augment,
                seed=self.cfg.seed,
                fine_tune_layers=int(values.get("fine_tune_layers", 0) or 0),
                fine_tune_epochs=self.cfg.fine_tune_epochs,
                fine_tune_learning_rate=None,
                log=None,
            )
            seconds = time.monotonic() - started
            val = self.data.validation
            val_loss, val_acc = model.evaluate(make_dataset(val.x, val.y, 256), verbose=0)
            path = os.path.join(self.project_dir, f"trial_{trial.trial_id}.weights.h5")
            model.save_weights(path)
            self.records[trial.trial_id] = {
                "values": values,
                "curves": rows,
                "weights": path,
                "seconds": seconds,
                "val_accuracy": float(val_acc),
                "val_loss": float(val_loss),
            }
            self.log(
                f"trial {len(self.records)}: "
                + ", ".join(f"{k} {_fmt(v)}" for k, v in values.items())
                + f" -> val_accuracy {val_acc:.4f} ({len(rows)} epochs, {seconds:.1f} s)"
            )
            return {"val_accuracy": float(val_acc)}

    return Search


def _fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def tune(
    cfg: TrainConfig,
    space: SearchSpace,
    *,
    trials: int = 10,
    algorithm: str = "random",
    work_dir: Optional[str] = None,
    log: Callable[[str], None] = _log.info,
) -> TuneResult:
    """Search, then export the best trial's model as the bundle at `cfg.out`."""
    import keras
    import keras_tuner as kt

    from bucketscore.model_export.architectures import BACKBONES
    from bucketscore.model_export.datasets import load_dataset
    from bucketscore.model_export.exporting import BundleBuilder
    from bucketscore.model_export.training import (
        build_base,
        build_model,
        evaluate_and_seal,
        input_spec_for,
        local_copy,
    )
    from bucketscore.model_export.training_reports import to_csv, trials_png

    if algorithm not in ALGORITHMS:
        raise TrainError(f"--algorithm must be one of {', '.join(ALGORITHMS)}")
    if trials < 1:
        raise TrainError("--trials must be at least 1")
    if space.fine_tune_layers is not None and cfg.architecture not in BACKBONES:
        raise TrainError(
            "--fine_tune_layers applies to transfer-learning architectures "
            f"({', '.join(BACKBONES)})"
        )
    keras.utils.set_random_seed(cfg.seed)
    spec = input_spec_for(cfg)

    own_dir = work_dir is None
    work = work_dir or tempfile.mkdtemp(prefix="bucketscore-tune-")
    said: set[str] = set()

    def log_once(msg: str) -> None:
        if msg not in said:
            said.add(msg)
            log(msg)

    try:
        trial_cfg = cfg
        facts_seen: dict = {}
        if cfg.base_weights and cfg.base_weights != "imagenet":
            # Fetch a bucket weights file once, not once per trial.
            trial_cfg = dataclasses.replace(cfg, base_weights=local_copy(cfg.base_weights, work))
        if cfg.architecture in BACKBONES:
            build_base(trial_cfg, spec, log_once)  # a weights problem fails before the data
        data = load_dataset(
            cfg.data,
            spec,
            labels_csv=cfg.labels_csv,
            validation_fraction=cfg.validation_fraction,
            test_fraction=cfg.test_fraction,
            seed=cfg.seed,
            log=log,
        )
        log(f"data {data.source} ({data.layout}): {data.describe()}")
        log(f"search: {algorithm}, {trials} trial(s), objective val_accuracy; {space.describe()}")

        def build(hp):
            for p in space.params():
                p.declare(hp)
            one = dataclasses.replace(trial_cfg, dropout=float(hp.get("dropout")))
            model, facts = build_model(one, spec, len(data.labels), log_once)
            facts_seen.update(facts)
            return model

        tuner_cls = _make_tuner_class(algorithm)
        kwargs = dict(
            objective=kt.Objective("val_accuracy", "max"),
            max_trials=trials,
            seed=cfg.seed,
            directory=work,
            project_name="search",
            overwrite=True,
            max_consecutive_failed_trials=trials,
        )
        if algorithm == "bayesian":
            kwargs["num_initial_points"] = min(max(2, trials // 3), trials)
        tuner = tuner_cls(build, data=data, cfg=cfg, space=space, log=log, **kwargs)
        started = time.monotonic()
        tuner.search(verbose=0)
        seconds = time.monotonic() - started

        table = _trials_table(tuner, space)
        done = [r for r in table if r["status"] == "COMPLETED"]
        if not done:
            reasons = {_last_line(t.message) for t in tuner.oracle.trials.values() if t.message}
            raise TrainError(
                "every trial failed: " + ("; ".join(sorted(reasons)) or "no reason recorded")
            )
        best_trial = tuner.oracle.get_best_trials(1)[0]
        record = tuner.records[best_trial.trial_id]
        best_row = next(r for r in table if r["trial_id"] == best_trial.trial_id)
        best_row["best"] = True
        log(
            f"best: trial {best_row['trial']} "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in record["values"].items())
            + f" -> val_accuracy {record['val_accuracy']:.4f}"
        )

        model = tuner.hypermodel.build(best_trial.hyperparameters)
        model.load_weights(record["weights"])
        if cfg.base_weights and cfg.base_weights != "imagenet":
            facts_seen["base_weights"] = {
                **facts_seen.get("base_weights", {}),
                "source": cfg.base_weights,
            }
        name = cfg.name or (
            f"{cfg.architecture}-{os.path.basename(data.source.rstrip('/')) or 'model'}-tuned"
        )
        fields = (
            ["trial", "trial_id", "status", "best"]
            + [p.name for p in space.params()]
            + ["val_accuracy", "val_loss", "epochs_run", "seconds"]
        )
        metrics = {
            "epochs": len(record["curves"]),
            "train_seconds": round(record["seconds"], 1),
            "tune_seconds": round(seconds, 1),
            "best_val_loss": min(
                (r["val_loss"] for r in record["curves"] if r["val_loss"] is not None), default=None
            ),
        }
        extra = {
            "architecture": cfg.architecture,
            **facts_seen,
            "training": {**cfg.to_json(), **record["values"]},
            "tuning": {
                "algorithm": algorithm,
                "trials": len(table),
                "completed": len(done),
                "objective": "val_accuracy",
                "space": {p.name: p.describe() for p in space.params()},
                "best_trial": best_row["trial"],
                "best_values": record["values"],
                "files": [f"{TUNING_DIR}/trials.csv", f"{TUNING_DIR}/trials.png"],
            },
            "dataset": {"source": data.source, "layout": data.layout, "counts": data.counts()},
        }
        with BundleBuilder(name=name, labels=data.labels, input_spec=spec) as bundle:
            bundle.add_keras(model)
            bundle.add_text(f"{TUNING_DIR}/trials.csv", to_csv(table, fields))
            bundle.add_bytes(
                f"{TUNING_DIR}/trials.png", trials_png(table, "val_accuracy", log_x="learning_rate")
            )
            meta = evaluate_and_seal(
                bundle,
                data,
                out=cfg.out,
                curves=record["curves"],
                title=f"{name}: best trial",
                metrics=metrics,
                extra=extra,
                onnx=cfg.onnx,
                log=log,
            )
        return TuneResult(meta=meta, trials=table, best=best_row, seconds=seconds)
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)


def _trials_table(tuner, space: SearchSpace) -> list[dict]:
    rows = []
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))
    for i, trial in enumerate(trials, 1):
        rec = tuner.records.get(trial.trial_id, {})
        row = {"trial": i, "trial_id": trial.trial_id, "status": str(trial.status), "best": False}
        for p in space.params():
            row[p.name] = trial.hyperparameters.values.get(p.name)
        row["val_accuracy"] = rec.get("val_accuracy")
        row["val_loss"] = rec.get("val_loss")
        row["epochs_run"] = len(rec.get("curves", [])) or None
        row["seconds"] = round(rec["seconds"], 2) if "seconds" in rec else None
        rows.append(row)
    return rows


def _last_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


__all__ = ["ALGORITHMS", "Param", "SearchSpace", "TuneResult", "tune"]
