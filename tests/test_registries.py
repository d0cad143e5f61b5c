"""Extension points: a task, a metric and a backend added from outside the package, with no
list in the package edited."""

import random

import numpy as np
import pandas as pd

import emergelab as el
from emergelab.config import TaskConfig, load_preset
from emergelab.evaluate.registry import lookup, register_metric
from emergelab.execute import register_backend
from emergelab.execute.in_process import InProcess
from emergelab.planted import logistic
from emergelab.tasks import Example, Task, build_task, register_task


@register_task
class Parity(Task):
    """Whether a bit string has an odd number of ones: 0110? -> 0."""

    name = "test_parity"
    description = "parity of 6 bits, e.g. 011010? -> 1"
    eval_fraction = 0.25

    def sample(self, rng: random.Random) -> Example:
        bits = "".join(rng.choice("01") for _ in range(6))
        answer = str(bits.count("1") % 2)
        return Example(f"{bits}?", answer, answer, {})

    def answer_alphabet(self) -> str:
        return "01"


class CountingBackend(InProcess):
    """One member after another in this process, counting the members it ran."""

    ran: list[str] = []

    def run(self, job, order, report):
        CountingBackend.ran.extend(str(m) for m in order)
        return super().run(job, order, report)


register_backend("test-counting", CountingBackend)


def test_a_task_defined_here_trains_and_is_scored_through_a_backend_defined_here(tmp_path):
    task = build_task("test_parity")
    held_out = task.eval_set(16, seed=0)
    assert {e.target for e in held_out} <= {"0", "1"} and len(held_out) == 16
    cfg = load_preset("micro")
    cfg = cfg.model_copy(update={"tasks": [TaskConfig(name="test_parity", n_eval=16)]})
    run = el.run(cfg, out=tmp_path / "parity", backend="test-counting")
    rows = run.to_frame()
    assert set(rows["task"]) == {"test_parity"} and len(CountingBackend.ran) == 2
    em = rows[(rows["metric"] == "exact_match") & rows["final_checkpoint"]]
    assert len(em) == 2 and em["value"].between(0, 1).all()
    # its random baseline comes from the task's own answers: half of them guess right
    assert abs(float(em["baseline"].iloc[0]) - 0.5) < 0.15


def test_a_metric_registered_here_is_oriented_by_its_direction():
    register_metric("test_loss_like", higher_is_better=False, kind="continuous", best=0.0)
    assert lookup("test_loss_like").higher_is_better is False
    x = np.logspace(6, 10, 12)
    # a loss that falls from 2.0 to 0.2 around 1e8: an ability appearing, read the right way up
    value = 2.0 - logistic(np.log10(x), 0.0, 1.8, 8.0, 0.3)
    rows = pd.DataFrame({"task": "t", "metric": "test_loss_like", "params": x, "value": value,
                         "ci_low": value - 0.02, "ci_high": value + 0.02, "n": 200})
    result = el.analyze(rows).results[0]
    assert result.classification not in ("inverse", "flat")
    assert abs(np.log10(result.threshold) - 8.0) < 0.3
