"""Tasks read from files: BIG-bench JSON tasks (`task.json`) and JSONL, evaluation only.

BIG-bench JSON (bigbench 1.0.0 `json_task.py` conventions): `examples` with `input` and either
`target` (a string or a list of accepted strings: generative, exact_str_match) or `target_scores`
({option: score}: multiple choice). The prompt is built the way BIG-bench builds it: `task_prefix`,
then `example_input_prefix` (default "\\nQ: ") + input, the options appended as
`choice_prefix` (default "\\n  choice: ") + option when `append_choices_to_input` (default true),
then `example_output_prefix` (default "\\nA: "). Few-shot (tasks/fewshot.py) draws its
demonstrations from the examples after the evaluated first n, with the task's
`few_shot_example_separator` (default "\\n") and `task_prefix` written once.

JSONL: one object a line, `prompt` (or `input`) and either `target` (or `answer`, `output`) or
`choices` with `label` (the index of the right option) or `target_scores`. Lines with
`"split": "train"` are the train split (few-shot demonstrations), never evaluated. This is also
the format `emergelab export lmeval-tasks` writes.
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

from ..errors import UserError
from .base import Example, Task

FILE_SUFFIXES = (".json", ".jsonl")


def is_task_file(spec: str) -> bool:
    return spec.lower().endswith(FILE_SUFFIXES)


class FileTask(Task):
    """A fixed list of examples; every one is held out (none is ever trained on)."""

    variants = ("plain",)
    memorisation = False

    def __init__(self, name: str, examples: list[Example], description: str = "",
                 stop_string: str | None = None, output_regex: str | None = None,
                 train_examples: list[Example] | None = None, prompt_prefix: str = "",
                 fewshot_separator: str = "\n", bigbench: bool = False) -> None:
        super().__init__("plain")
        self.name, self.examples = name, examples
        self.description = description or f"imported task {name}"
        self.stop_string, self.output_regex = stop_string, output_regex
        self.train_examples = train_examples or []
        self.prompt_prefix, self.fewshot_separator = prompt_prefix, fewshot_separator
        self.bigbench = bigbench

    def train_pool(self, n_evaluated: int) -> list[Example]:
        """Where few-shot demonstrations come from: a BIG-bench task's examples after the
        evaluated ones, a JSONL file's `"split": "train"` lines."""
        return self.examples[n_evaluated:] if self.bigbench else self.train_examples

    def train_split_hint(self) -> str:
        return ("a BIG-bench task's demonstrations are its examples after the first --n; "
                "lower --n" if self.bigbench else
                'mark demonstration lines of the JSONL file with "split": "train"')

    @property
    def is_multiple_choice(self) -> bool:
        return self.examples[0].is_multiple_choice

    def sample(self, rng: random.Random) -> Example:
        return rng.choice(self.examples)

    def split_of(self, example: Example) -> str:
        return "eval"

    def eval_set(self, n: int, seed: int) -> list[Example]:
        """The first n examples in file order (all when n is larger): the same items for every
        model, as published."""
        return self.examples[:n]

    def normalize(self, text: str) -> str:
        return text.strip()  # BIG-bench's exact_str_match compares stripped strings

    def extract_answer(self, generated: str) -> str:
        if self.stop_string and self.stop_string in generated:
            generated = generated.split(self.stop_string, 1)[0]
        if self.output_regex:
            m = re.search(self.output_regex, generated)
            generated = m.group(0) if m else ""
        return generated

    def answer_alphabet(self) -> str:
        return "".join(sorted({ch for e in self.examples for ch in e.target})) or " "

    def baselines(self, examples: list[Example], seed: int = 0,
                  tokenize=None) -> dict[str, float]:
        if not examples[0].is_multiple_choice:
            return super().baselines(examples, seed, tokenize)
        # a uniform guess over the options: expected score, Brier (k-1)/k, log-likelihood -log k
        ks = [len(e.choices) for e in examples]
        return {"multiple_choice_grade": sum(sum(e.choice_scores) / len(e.choices)
                                             for e in examples) / len(examples),
                "brier_score": sum((k - 1) / k for k in ks) / len(ks),
                "target_logprob": -sum(math.log(k) for k in ks) / len(ks)}


def _bad(path: Path, where: str, what: str) -> UserError:
    return UserError(f"{path}: {where}: {what}")


def _mc_example(path: Path, where: str, prompt: str, scores: dict) -> Example:
    if not isinstance(scores, dict) or len(scores) < 2:
        raise _bad(path, where, "target_scores must map at least two options to scores")
    try:
        vals = tuple(float(v) for v in scores.values())
    except (TypeError, ValueError):
        raise _bad(path, where, "target_scores values must be numbers") from None
    choices = tuple(str(c) for c in scores)
    best = choices[max(range(len(vals)), key=vals.__getitem__)]
    return Example(prompt, best, best, {}, choices, vals)


def load_bigbench_task(path: Path) -> FileTask:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list) or not data["examples"]:
        raise UserError(f"{path}: not a BIG-bench JSON task (needs a non-empty 'examples' list)")
    prefix = str(data.get("task_prefix", ""))
    in_prefix = str(data.get("example_input_prefix", "\nQ: "))
    out_prefix = str(data.get("example_output_prefix", "\nA: "))
    choice_prefix = str(data.get("choice_prefix", "\n  choice: "))
    append_choices = bool(data.get("append_choices_to_input", True))
    examples = []
    for i, ex in enumerate(data["examples"]):
        where = f"example {i}"
        if not isinstance(ex, dict) or not isinstance(ex.get("input"), str):
            raise _bad(path, where, "needs a string 'input'")
        body = prefix + in_prefix + ex["input"]
        if "target_scores" in ex:
            scores = ex["target_scores"]
            if append_choices and isinstance(scores, dict):
                body += "".join(choice_prefix + str(c) for c in scores)
            examples.append(_mc_example(path, where, body + out_prefix, scores))
            continue
        target = ex.get("target")
        targets = [target] if isinstance(target, str) else target
        if not targets or not all(isinstance(t, str) for t in targets):
            raise _bad(path, where, "needs 'target' (a string or list of strings) or 'target_scores'")
        examples.append(Example(body + out_prefix, targets[0], targets[0],
                                {"accepted": list(targets)}))
    _same_kind(path, examples)
    return FileTask(str(data.get("name") or path.stem), examples, str(data.get("description", "")),
                    data.get("stop_string"), data.get("output_regex"), prompt_prefix=prefix,
                    fewshot_separator=str(data.get("few_shot_example_separator", "\n")),
                    bigbench=True)


def load_jsonl_task(path: Path) -> FileTask:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from None
    if not lines:
        raise UserError(f"{path}: no examples")
    examples, train = [], []
    for i, line in enumerate(lines, 1):
        where = f"line {i}"
        try:
            ex = json.loads(line)
        except json.JSONDecodeError:
            raise _bad(path, where, "not JSON") from None
        if not isinstance(ex, dict):
            raise _bad(path, where, "expected a JSON object")
        prompt = ex.get("prompt", ex.get("input"))
        if not isinstance(prompt, str):
            raise _bad(path, where, "needs a string 'prompt'")
        if ex.get("split", "test") not in ("train", "test", "eval"):
            raise _bad(path, where, "'split' must be \"train\" or \"test\"")
        into = train if ex.get("split") == "train" else examples
        if "target_scores" in ex:
            into.append(_mc_example(path, where, prompt, ex["target_scores"]))
        elif "choices" in ex:
            choices, label = ex["choices"], ex.get("label")
            if (not isinstance(choices, list) or len(choices) < 2
                    or not isinstance(label, int) or not 0 <= label < len(choices)):
                raise _bad(path, where, "'choices' needs two or more options and an integer "
                                        "'label' indexing the right one")
            into.append(_mc_example(path, where, prompt, {
                str(c): float(k == label) for k, c in enumerate(choices)}))
        else:
            target = ex.get("target", ex.get("answer", ex.get("output")))
            if not isinstance(target, str):
                raise _bad(path, where, "needs a string 'target' (or 'choices' and 'label')")
            answer = ex.get("answer", target) if isinstance(ex.get("answer"), str) else target
            into.append(Example(prompt, target, answer))
    if not examples:
        raise UserError(f"{path}: no examples to evaluate (every line is \"split\": \"train\")")
    _same_kind(path, examples + train)
    return FileTask(path.stem, examples, train_examples=train)


def _same_kind(path: Path, examples: list[Example]) -> None:
    if len({e.is_multiple_choice for e in examples}) > 1:
        raise UserError(f"{path}: mixes multiple-choice and generative examples; split the file")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None


def load_task_file(spec: str) -> FileTask:
    path = Path(spec)
    if not path.exists():
        raise UserError(f"{path}: no such task file")
    return load_jsonl_task(path) if path.suffix.lower() == ".jsonl" else load_bigbench_task(path)
