"""Capability monitor: probes evaluated during training, so a capability that appears mid-run is
noticed when it appears, not after the run.

A probes file (TOML) lists what to watch:

    [[probes]]
    task = "add"              # any task name (and variant, options) of the task world
    variant = "reversed"
    metric = "exact_match"    # any metric the evaluator reports for that task
    threshold = 0.5           # alert when the metric crosses it (>= if higher is better, else <=)
    every = 100               # evaluate every N optimizer steps
    n = 100                   # held-out examples per evaluation

Every evaluation appends one JSON line to `monitor.jsonl` in the run directory; the first crossing
of a probe by a model is an alert (printed, and marked in the line). With `stop_on_alert` training
stops after saving a checkpoint; rerunning the same command resumes, and a probe that already
alerted for a model does not alert again.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from pathlib import Path

from pydantic import Field, ValidationError

from ..config import Strict, _first_error
from ..errors import UserError
from ..store import monitor_events


class ProbeConfig(Strict):
    task: str
    variant: str | None = None
    options: dict[str, int | str] = {}
    metric: str = "exact_match"
    threshold: float
    every: int = Field(100, ge=1)
    n: int = Field(100, ge=1)


class ProbesFile(Strict):
    probes: list[ProbeConfig] = Field(min_length=1)


def load_probes(path: Path) -> list[ProbeConfig]:
    try:
        data = tomllib.loads(Path(path).read_text())
        probes = ProbesFile.model_validate(data).probes
    except OSError as err:
        raise UserError(f"cannot read probes {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML ({err})") from None
    except ValidationError as err:
        raise UserError(f"{path}: {_first_error(err)}") from None
    return probes


class StoppedOnAlert(Exception):
    """Raised through the pipeline when a probe alerted and stop_on_alert is set."""

    def __init__(self, model_id: str, step: int, message: str) -> None:
        super().__init__(message)
        self.model_id, self.step = model_id, step


def print_alert(message: str) -> None:
    """The default alert: one bold red line on stderr (from whichever process trains)."""
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]{message}[/bold red]", highlight=False)


class CapabilityMonitor:
    def __init__(self, probes: list[ProbeConfig], log_path: Path, stop_on_alert: bool = False,
                 seed: int = 0, alert=print_alert, experiment: str = "") -> None:
        from .registry import PRODUCED
        from .runner import EvalTask
        from ..tasks import build_task

        self.log_path, self.stop_on_alert, self.seed, self.alert = log_path, stop_on_alert, seed, alert
        # a suite runs its experiments under one monitor, and two experiments may train members
        # with the same model_id: alerts are kept per (experiment, model, probe)
        self.experiment = experiment
        self.probes, self.eval_tasks = probes, []
        for p in probes:
            task = build_task(p.task, p.variant, **p.options)
            examples = task.eval_set(p.n, seed)
            if p.metric not in PRODUCED:
                raise UserError(f"probe {p.task}: unknown metric {p.metric!r}")
            self.eval_tasks.append(EvalTask(task, examples, task.baselines(examples, seed)))
        self.alerted: set[tuple[str, str, int]] = set()
        for ev in monitor_events(log_path):  # a resumed run: alerts already raised stay raised
            if ev.get("alert"):
                self.alerted.add((ev.get("experiment", ""), ev["model_id"], ev["probe"]))
        self.seconds = 0.0  # time spent probing, for the overhead figure

    def __reduce__(self):
        # a worker process rebuilds the monitor from its arguments: the task objects need not
        # pickle, and the alerts already raised are read back from the log
        return (CapabilityMonitor, (self.probes, self.log_path, self.stop_on_alert, self.seed,
                                    self.alert, self.experiment))

    def __call__(self, model_id: str, step: int, model) -> bool:
        """Evaluate the probes due at this step; True when training should stop."""
        from .runner import evaluate_model
        from .scoring import CharScorer

        due = [i for i, p in enumerate(self.probes) if step % p.every == 0]
        if not due:
            return False
        t0 = time.perf_counter()
        was_training = model.training
        model.eval()
        stop = False
        lines = []
        for i in due:
            p, et = self.probes[i], self.eval_tasks[i]
            _, results = evaluate_model(CharScorer(model, 256), [et], seed=self.seed, n_boot=0)
            row = next((r for r in results if r["metric"] == p.metric), None)
            if row is None:
                raise UserError(f"probe {p.task}: the evaluator reports no {p.metric!r} for it")
            higher = bool(row["higher_is_better"])
            value = float(row["value"])
            crossed = value >= p.threshold if higher else value <= p.threshold
            key = (self.experiment, model_id, i)
            alert = crossed and key not in self.alerted
            if alert:
                self.alerted.add(key)
                where = f"{self.experiment}/" if self.experiment else ""
                self.alert(f"ALERT {where}{model_id} step {step}: {et.task.id} {p.metric} = {value:.3f} "
                           f"crossed {p.threshold:g}")
                stop = stop or self.stop_on_alert
            lines.append(json.dumps({"time": time.time(), "experiment": self.experiment,
                                     "model_id": model_id, "step": step,
                                     "probe": i, "task": et.task.id, "metric": p.metric,
                                     "value": value, "threshold": p.threshold,
                                     "crossed": crossed, "alert": alert}))
        with open(self.log_path, "a") as fh:  # whole lines, flushed before training goes on
            fh.write("".join(line + "\n" for line in lines))
            fh.flush()
            os.fsync(fh.fileno())
        if was_training:
            model.train()
        self.seconds += time.perf_counter() - t0
        return stop
