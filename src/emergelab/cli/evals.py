"""Scoring existing models (eval) and handing ours to other tools (export)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .common import app, console, err_console, export_app, split_list


def _shot_list(text: str) -> list[int]:
    from ..tasks.fewshot import shot_counts

    try:
        return shot_counts([int(x) for x in split_list(text)])
    except ValueError:
        raise UserError(f"--shots takes whole numbers, as in 0,1,4 (not {text!r})") from None


@app.command("eval")
def eval_cmd(model: list[str] = typer.Option(..., "--model", help="a local Hugging Face model "
                                             "directory or one of our checkpoints; repeat it or "
                                             "give a glob for a family"),
             tasks_: str = typer.Option(..., "--tasks", help="comma-separated task names "
                                        "(add1, add/reversed) or task files (BIG-bench .json, .jsonl)"),
             out: Path = typer.Option(..., help="output directory (results/, samples/); resumes"),
             n: int = typer.Option(200, "--n", "--limit", min=1,
                                   help="examples per task (lm-eval calls it --limit)"),
             batch_size: str = typer.Option("32", help="examples per forward pass, or auto: the "
                                            "largest that fits, found once per model (scores "
                                            "do not depend on it)"),
             seed: int = typer.Option(0, help="seed of the held-out examples and intervals"),
             device: str = typer.Option("auto", help="where the models are evaluated: auto "
                                                     "(CUDA when present), cpu, cuda, mps"),
             dtype: Optional[str] = typer.Option(None, help="weights' dtype: float32, bfloat16, "
                                                 "float16 (default: bfloat16 on CUDA, else "
                                                 "float32)"),
             shots: str = typer.Option("0", help="demonstrations before each question, e.g. "
                                       "0,1,4: each task is scored at every count (few-shot "
                                       "examples: a seeded set from the task's train split)"),
             family: Optional[str] = typer.Option(None, help="the models' family (default: "
                                                  "from each directory name, keeping -deduped, "
                                                  "-instruct, -chat variants apart)"),
             pass_until: Optional[int] = typer.Option(None, help="also sample each example's "
                                                      "answer (temperature 1, seeded) until "
                                                      "correct twice, at most this many times: "
                                                      "log_pass_prob")) -> None:
    """Score existing models on our tasks with our metrics, into a results table.

    Example: emergelab eval --model path/to/hf-model --tasks add,word_problem --shots 0,4 --out evals
    """
    names = split_list(tasks_)
    if not names:
        raise UserError("--tasks names no task")
    if batch_size != "auto" and not (batch_size.isdigit() and int(batch_size) >= 1):
        raise UserError(f"--batch-size takes a number of at least 1 or 'auto', not {batch_size!r}")
    counts = _shot_list(shots)

    from ..evaluate.external import evaluate_models
    from ..render.summary import eval_table
    from ..store import read_results

    written = evaluate_models(model, names, out, n=n,
                              batch_size=batch_size if batch_size == "auto" else int(batch_size),
                              seed=seed,
                              on_model=lambda m: err_console.print(f"eval {m}", highlight=False),
                              device=device, dtype=dtype, shots=counts, family=family,
                              pass_until=pass_until)
    results = read_results(out)
    console.print(eval_table(results))
    if (results["metric"] == "log_pass_prob").any():
        console.print(eval_table(results, ("log_pass_prob",),
                                 "log10 sampled pass probability [95% interval]"))
    console.print(f"results: {out / 'results'} ({len(written)} models evaluated now)")
    console.print(f"next:    emergelab analyze {out} --x params")




@export_app.command("hf")
def export_hf_cmd(checkpoint: Path = typer.Argument(..., help="a checkpoint step directory, or a "
                                                    "model directory (its last step)"),
                  out_dir: Path = typer.Argument(..., help="new Hugging Face model directory")) -> None:
    """A checkpoint as a Hugging Face model directory (GPT-2 architecture, same logits).

    Example: emergelab export hf emergelab-demo/checkpoints/L3-d64-s0/step000800 hf-model
    """
    from ..export.hf import export_hf

    step_dir = export_hf(checkpoint, out_dir)
    console.print(f"exported {step_dir} -> {out_dir}")
    console.print(f"load:    AutoModelForCausalLM.from_pretrained({str(out_dir)!r})")


@export_app.command("lmeval-tasks")
def export_lmeval_cmd(out_dir: Path = typer.Argument(..., help="directory for the YAML and JSONL"),
                      tasks_: str = typer.Option(..., "--tasks", help="comma-separated task names "
                                                 "or task files"),
                      n: int = typer.Option(200, "--n", min=1, help="examples per task"),
                      seed: int = typer.Option(0, help="seed of the held-out examples"),
                      shots: int = typer.Option(0, help="demonstrations before each question: "
                                                "the same ones `eval --shots K` uses")) -> None:
    """Our tasks as lm-evaluation-harness task YAML with local JSONL data.

    Example: emergelab export lmeval-tasks lmeval-tasks --tasks add,facts --shots 4
    """
    from ..evaluate.external import tasks_from_specs
    from ..export.lmeval import export_lmeval_tasks, lmeval_name

    eval_tasks = tasks_from_specs(split_list(tasks_), n, seed)
    for path in export_lmeval_tasks(eval_tasks, out_dir, shots, seed):
        console.print(f"wrote {path}")
    names = ",".join(lmeval_name(et.task) for et in eval_tasks)
    console.print(f"run:     lm_eval --model hf --model_args pretrained=MODEL_DIR "
                  f"--include_path {out_dir} --tasks {names}", highlight=False, soft_wrap=True)
