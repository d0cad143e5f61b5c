"""Our tasks as lm-evaluation-harness tasks: one YAML (`task: emergelab_<task>`) and one local JSONL
file each (`dataset_path: json`), so `lm_eval --include_path OUT_DIR --tasks emergelab_add1` runs
offline on the same held-out examples we score, and its exact match agrees with ours.

How ours maps onto theirs: greedy generation until a newline; exact match after our normaliser
(`regexes_to_ignore`: our generated tasks drop all whitespace, imported ones strip it); for a
chain-of-thought variant a regex filter keeps the text after the last '#', as our extract_answer
does. Multiple-choice tasks become `output_type: multiple_choice` with accuracy, scored by the
log-likelihood of each option right after the prompt (no delimiter, as we score them).

Few-shot (`--shots K`): the K demonstrations `emergelab eval --shots K` puts before every
question (tasks/fewshot.py) are written, in order, as the task's `train` split, and the YAML
says `num_fewshot: K` with lm-eval's `first_n` sampler, our separator as `fewshot_delimiter` and
no `target_delimiter`, so a plain `lm_eval --tasks emergelab_<task>` builds the same prompts.
A BIG-bench task's `task_prefix` becomes lm-eval's `description` (written once, first).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UserError
from ..tasks.imported import FileTask

HEADER = "# Written by `emergelab export lmeval-tasks`; the data_files path is absolute.\n"


def lmeval_name(task) -> str:
    return "emergelab_" + re.sub(r"[^A-Za-z0-9]+", "_", task.id).strip("_").lower()


def _yaml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def task_yaml(task, data_file: Path, examples, shots: int = 0,
              train_file: Path | None = None) -> str:
    lines = [f"task: {lmeval_name(task)}", "dataset_path: json", "dataset_kwargs:",
             "  data_files:", f"    test: {_yaml_str(str(data_file.resolve()))}"]
    if shots:
        lines += [f"    train: {_yaml_str(str(train_file.resolve()))}"]
    lines += ["test_split: test", "doc_to_text: prompt"]
    if shots:
        from ..tasks.fewshot import SEPARATOR

        lines += ["fewshot_split: train", f"num_fewshot: {shots}", "fewshot_config:",
                  "  sampler: first_n",
                  f"  doc_to_target: {'label' if examples[0].is_multiple_choice else 'target'}",
                  "fewshot_delimiter: "
                  + _yaml_str(getattr(task, "fewshot_separator", SEPARATOR))]
        if getattr(task, "prompt_prefix", ""):
            lines += [f"description: {_yaml_str(task.prompt_prefix)}"]
        if not examples[0].is_multiple_choice:
            lines += ['target_delimiter: ""']
    if examples[0].is_multiple_choice:
        lines += ["output_type: multiple_choice", "doc_to_choice: choices", "doc_to_target: label",
                  'target_delimiter: ""', "metric_list:", "  - metric: acc",
                  "    aggregation: mean", "    higher_is_better: true"]
    else:
        strip_all = not isinstance(task, FileTask)
        ignore = [r"\s"] if strip_all else [r"^\s+", r"\s+$"]
        # our generation budget (Task.generation_budget) counted in characters: a character is
        # a token for our models; a BPE model gets room to spare
        longest = max(len(e.target) for e in examples)
        from ..evaluate.scoring import stops_for  # the stops our scorers use

        until = list(stops_for([e.target for e in examples], tuple(task.stop_sequences)))
        lines += ["output_type: generate_until", "doc_to_target: answer", "generation_kwargs:",
                  "  until: [" + ", ".join(_yaml_str(u) for u in until) + "]",
                  "  do_sample: false", f"  max_gen_toks: {task.generation_budget(longest)}",
                  "metric_list:", "  - metric: exact_match", "    aggregation: mean",
                  "    higher_is_better: true", "    ignore_case: false",
                  "    ignore_punctuation: false",
                  "    regexes_to_ignore: [" + ", ".join(_yaml_str(r) for r in ignore) + "]"]
        if task.extract_answer("a#b") == "b":  # chain of thought: the answer follows the last '#'
            lines += ["filter_list:", "  - name: final_answer", "    filter:",
                      "      - function: regex", '        regex_pattern: "([^#]*)$"',
                      "      - function: take_first"]
    lines += ["metadata:", "  version: 1.0"]
    return HEADER + "\n".join(lines) + "\n"


def _record(e, prefix: str = "") -> dict:
    prompt = e.prompt[len(prefix):]  # a description carries the prefix, once
    if e.is_multiple_choice:
        best = max(range(len(e.choices)), key=e.choice_scores.__getitem__)
        return {"prompt": prompt, "choices": list(e.choices), "label": best}
    return {"prompt": prompt, "target": e.target, "answer": e.answer}


def export_lmeval_tasks(eval_tasks, out_dir: Path, shots: int = 0, seed: int = 0) -> list[Path]:
    """Write a YAML and a JSONL per task (and with shots, a JSONL of the demonstrations); returns
    the YAML paths. eval_tasks are zero-shot; their demonstrations are drawn here exactly as
    `eval --shots` draws them. Files are written under temporary names and renamed, so a failure
    leaves no half-written task."""
    from ..store import write_atomic  # the one atomic-write helper
    from ..tasks.fewshot import demonstrations

    out_dir = Path(out_dir)
    demos = {et.task.id: demonstrations(et.task, shots, seed, et.examples)
             for et in eval_tasks}  # every task checked before anything is written
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for et in eval_tasks:
            name = lmeval_name(et.task)
            data = out_dir / f"{name}.jsonl"
            train = out_dir / f"{name}.train.jsonl"
            yaml = out_dir / f"{name}.yaml"
            prefix = getattr(et.task, "prompt_prefix", "") if shots else ""
            files = [(data, "".join(json.dumps(_record(e, prefix)) + "\n" for e in et.examples))]
            if shots:
                files.append((train, "".join(json.dumps(_record(e, prefix)) + "\n"
                                             for e in demos[et.task.id])))
            files.append((yaml, task_yaml(et.task, data, et.examples, shots, train)))
            for final, text in files:
                write_atomic(final, text)
            written.append(yaml)
    except OSError as err:
        raise UserError(f"cannot write to {out_dir}: {err.strerror}") from None
    return written
