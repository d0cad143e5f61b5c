"""Our tasks as lm-evaluation-harness tasks: one YAML (`task: emergelab_<task>`) and one local JSONL
file each (`dataset_path: json`), so `lm_eval --include_path OUT_DIR --tasks emergelab_add1` runs
offline on the same held-out examples we score, and its exact match agrees with ours.

How ours maps onto theirs: greedy generation until a newline; exact match after our normaliser
(`regexes_to_ignore`: our generated tasks drop all whitespace, imported ones strip it); for a
chain-of-thought variant a regex filter keeps the text after the last '#', as our extract_answer
does. Multiple-choice tasks become `output_type: multiple_choice` with accuracy, scored by the
log-likelihood of each option right after the prompt (no delimiter, as we score them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UserError
from .imported import FileTask

HEADER = "# Written by `emergelab export lmeval-tasks`; the data_files path is absolute.\n"


def lmeval_name(task) -> str:
    return "emergelab_" + re.sub(r"[^A-Za-z0-9]+", "_", task.id).strip("_").lower()


def _yaml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def task_yaml(task, data_file: Path, examples) -> str:
    lines = [f"task: {lmeval_name(task)}", "dataset_path: json", "dataset_kwargs:",
             "  data_files:", f"    test: {_yaml_str(str(data_file.resolve()))}",
             "test_split: test", "doc_to_text: prompt"]
    if examples[0].is_multiple_choice:
        lines += ["output_type: multiple_choice", "doc_to_choice: choices", "doc_to_target: label",
                  'target_delimiter: ""', "metric_list:", "  - metric: acc",
                  "    aggregation: mean", "    higher_is_better: true"]
    else:
        strip_all = not isinstance(task, FileTask)
        ignore = [r"\s"] if strip_all else [r"^\s+", r"\s+$"]
        # our generation budget: the longest target + 2 tokens (a character is a token for our
        # models; a BPE model gets room to spare)
        longest = max(len(e.target) for e in examples)
        lines += ["output_type: generate_until", "doc_to_target: answer", "generation_kwargs:",
                  '  until: ["\\n"]', "  do_sample: false", f"  max_gen_toks: {longest + 2}",
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


def _record(e) -> dict:
    if e.is_multiple_choice:
        best = max(range(len(e.choices)), key=e.choice_scores.__getitem__)
        return {"prompt": e.prompt, "choices": list(e.choices), "label": best}
    return {"prompt": e.prompt, "target": e.target, "answer": e.answer}


def export_lmeval_tasks(eval_tasks, out_dir: Path) -> list[Path]:
    """Write a YAML and a JSONL per task; returns the YAML paths. Files are written under
    temporary names and renamed, so a failure leaves no half-written task."""
    from ..store import write_atomic  # the one atomic-write helper

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for et in eval_tasks:
            name = lmeval_name(et.task)
            data = out_dir / f"{name}.jsonl"
            yaml = out_dir / f"{name}.yaml"
            for final, text in ((data, "".join(json.dumps(_record(e)) + "\n" for e in et.examples)),
                                (yaml, task_yaml(et.task, data, et.examples))):
                write_atomic(final, text)
            written.append(yaml)
    except OSError as err:
        raise UserError(f"cannot write to {out_dir}: {err.strerror}") from None
    return written
