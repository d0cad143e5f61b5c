"""The one metric registry: every fact about a metric lives here, once.

Evaluation (which metrics a sample gets, how they are aggregated), analysis (direction, whether a
metric is all-or-nothing per example, the mirage test, the usefulness level), compare, the
importers and the read-out all look metrics up here; nothing matches metric names by substring.
A new metric is one entry here, or one `register_metric(...)` call in the module that reports it
(lm-evaluation-harness's metric registry is the model).

Fields:
- higher_is_better: the direction analysis orients every curve to.
- kind: "discrete" (all-or-nothing per example: exact match, accuracy, multiple-choice grade) or
  "continuous" (partial credit: token accuracy, log-probabilities, distances, Brier, BLEU...).
  The mirage test (Schaeffer et al. 2023) contrasts the two on the same outputs.
- unit: what one value is averaged over or counted in: "example", "token" (the scorer's tokens:
  characters for our GPT, model tokens for a Hugging Face model), "character", "word", "byte".
- best: the best possible value (None when unbounded), for normalising and the usefulness level.
- baseline: how the random baseline is obtained: "chance_answer" (a random other example's
  answer), "uniform_tokens" (uniform over the answer alphabet), "chance_option" (a uniform pick
  among the options), "zero" (no ability scores 0), "given" (the source table supplies it), "none".
- aggregation: "proportion" (mean of 0/1 values, Wilson interval) or "mean" (percentile bootstrap
  over examples).
- short: the name tables print where a column is narrow (with a legend); the name itself if unset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import UserError

Kind = Literal["discrete", "continuous"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    higher_is_better: bool
    kind: Kind
    unit: str
    best: float | None
    baseline: str
    aggregation: Literal["proportion", "mean"] = "mean"
    description: str = ""
    short: str = ""

    @property
    def label(self) -> str:
        return self.short or self.name

    @property
    def discrete(self) -> bool:
        return self.kind == "discrete"

    @property
    def continuous(self) -> bool:
        return self.kind == "continuous"


def _m(name, higher, kind, unit, best, baseline, aggregation="mean", description=""):
    return MetricSpec(name, higher, kind, unit, best, baseline, aggregation, description,
                      SHORT.get(name, ""))


SHORT = {"exact_match": "exact", "token_accuracy": "tok_acc", "token_edit_distance": "edit",
         "token_edit_distance_norm": "edit_norm", "target_logprob": "logp",
         "target_logprob_mean": "logp_mean", "multiple_choice_grade": "mc_grade",
         "brier_score": "brier", "bits_per_param": "bits/param",
         "numeric_match_with_0_1_relative_error": "num_match",
         "case_insensitive_str_match": "ci_str_match", "log_likelihood": "loglik",
         "log_likelihood_per_word": "loglik/word", "log_likelihood_per_char": "loglik/char",
         "calibration_multiple_choice_brier_score": "calib_brier",
         "expected_calibration_error": "ece", "exact_match_macro_f1": "exact_f1",
         "bertscore_option_accuracy": "bs_opt_acc", "bertscore_option_macro_f1": "bs_opt_f1",
         "char_edit_distance": "char_edit", "bertscore_f1_to_target": "bs_f1",
         "log_pass_prob": "log_pass"}


def short_name(name: str) -> str:
    """A metric's name for narrow columns (registered abbreviation, else the name)."""
    m = REGISTRY.get(name)
    return m.label if m else name


_ENTRIES = [
    # ours, on generative examples (evaluate/metrics.py computes them)
    _m("exact_match", True, "discrete", "example", 1.0, "chance_answer", "proportion",
       "normalised answer equals the target's"),
    _m("token_accuracy", True, "continuous", "token", 1.0, "chance_answer", "mean",
       "share of target tokens that are the argmax under teacher forcing"),
    _m("token_edit_distance", False, "continuous", "example", 0.0, "chance_answer", "mean",
       "Levenshtein distance between generation and target, in tokens"),
    _m("token_edit_distance_norm", False, "continuous", "token", 0.0, "chance_answer", "mean",
       "edit distance divided by the target's length in tokens"),
    _m("target_logprob", True, "continuous", "example", 0.0, "uniform_tokens", "mean",
       "summed log-probability of the target tokens (nats)"),
    _m("target_logprob_mean", True, "continuous", "token", 0.0, "uniform_tokens", "mean",
       "mean log-probability per target token (nats)"),
    _m("log_pass_prob", True, "continuous", "example", 0.0, "chance_answer", "mean",
       "log10 pass probability of one answer sampled at temperature 1, from answers sampled "
       "until correct twice (evaluate/pass_until.py)"),
    # ours, on multiple-choice examples
    _m("multiple_choice_grade", True, "discrete", "example", 1.0, "chance_option", "mean",
       "score of the option with the highest log-likelihood (BIG-bench)"),
    _m("brier_score", False, "continuous", "example", 0.0, "chance_option", "mean",
       "multi-class Brier score of the options' renormalised probabilities"),
    # task-specific rows
    _m("icl_score", False, "continuous", "token", None, "zero", "mean",
       "late-minus-early loss on in-context values (Olsson et al.); lower is more in-context learning"),
    _m("stored_bits", True, "continuous", "example", None, "zero", "mean",
       "bits of facts recalled beyond chance"),
    _m("bits_per_param", True, "continuous", "example", None, "zero", "mean",
       "stored bits per non-embedding parameter"),
    # lm-evaluation-harness
    _m("acc", True, "discrete", "example", 1.0, "given", "proportion", "accuracy"),
    _m("acc_norm", True, "discrete", "example", 1.0, "given", "proportion",
       "accuracy with length-normalised option log-likelihoods"),
    _m("acc_mutual_info", True, "discrete", "example", 1.0, "given", "proportion"),
    _m("mcc", True, "discrete", "example", 1.0, "given", "mean", "Matthews correlation"),
    _m("f1", True, "discrete", "example", 1.0, "given", "mean"),
    _m("em", True, "discrete", "example", 1.0, "given", "proportion", "exact match"),
    _m("perplexity", False, "continuous", "token", 1.0, "none", "mean"),
    _m("ppl", False, "continuous", "token", 1.0, "none", "mean", "perplexity"),
    _m("word_perplexity", False, "continuous", "word", 1.0, "none", "mean"),
    _m("byte_perplexity", False, "continuous", "byte", 1.0, "none", "mean"),
    _m("bits_per_byte", False, "continuous", "byte", 0.0, "none", "mean"),
    _m("ter", False, "continuous", "word", 0.0, "none", "mean", "translation edit rate"),
    # BIG-bench (values on the score file's own scale)
    _m("exact_str_match", True, "discrete", "example", 1.0, "given", "proportion"),
    _m("case_insensitive_str_match", True, "discrete", "example", 1.0, "given", "proportion"),
    _m("numeric_match_with_0_1_relative_error", True, "discrete", "example", 1.0, "given",
       "proportion"),
    _m("macro_f1", True, "discrete", "example", 1.0, "given", "mean"),
    _m("bleu", True, "continuous", "word", 100.0, "given", "mean"),
    _m("rouge1", True, "continuous", "word", 100.0, "given", "mean"),
    _m("rouge2", True, "continuous", "word", 100.0, "given", "mean"),
    _m("rougeL", True, "continuous", "word", 100.0, "given", "mean"),
    _m("rougeLsum", True, "continuous", "word", 100.0, "given", "mean"),
    _m("bleurt", True, "continuous", "example", 1.0, "given", "mean"),
    _m("sequence_f1", True, "continuous", "word", 100.0, "given", "mean"),
    _m("log_likelihood", True, "continuous", "example", 0.0, "given", "mean"),
    _m("log_likelihood_per_word", True, "continuous", "word", 0.0, "given", "mean"),
    _m("log_likelihood_per_char", True, "continuous", "character", 0.0, "given", "mean"),
    _m("calibration_multiple_choice_brier_score", False, "continuous", "example", 0.0, "given",
       "mean"),
    _m("expected_calibration_error", False, "continuous", "example", 0.0, "given", "mean"),
    # Lu et al. 2024 (datasets/bigbench): four metrics of the same generations
    _m("exact_match_macro_f1", True, "discrete", "example", 1.0, "given", "mean"),
    _m("bertscore_option_accuracy", True, "discrete", "example", 1.0, "given", "proportion"),
    _m("bertscore_option_macro_f1", True, "discrete", "example", 1.0, "given", "mean"),
    _m("char_edit_distance", False, "continuous", "character", 0.0, "given", "mean"),
    _m("bertscore_f1_to_target", True, "continuous", "example", 1.0, "given", "mean"),
]
REGISTRY: dict[str, MetricSpec] = {m.name: m for m in _ENTRIES}

# the metrics every generative / multiple-choice example of ours gets, in this order
GENERATIVE = ("exact_match", "token_edit_distance", "token_edit_distance_norm", "token_accuracy",
              "target_logprob", "target_logprob_mean")
MULTIPLE_CHOICE = ("multiple_choice_grade", "brier_score", "target_logprob")
# rows some of our tasks add (tasks/in_context.py, tasks/facts.py)
TASK_SPECIFIC = ("icl_score", "stored_bits", "bits_per_param")
PRODUCED = GENERATIVE + MULTIPLE_CHOICE + TASK_SPECIFIC  # what our evaluation can report
# the metric a task is read by first: of generative tasks, of multiple-choice tasks
HEADLINE = ("exact_match", "multiple_choice_grade")


def register_metric(name: str, higher_is_better: bool, kind: Kind, unit: str = "example",
                    best: float | None = None, baseline: str = "given",
                    aggregation: str = "mean", description: str = "",
                    short: str = "") -> MetricSpec:
    """Register a metric that rows of a results table may carry (fields as above), so analysis
    orients, classifies and normalises it; returns its entry. A name is registered once."""
    if kind not in ("discrete", "continuous") or aggregation not in ("proportion", "mean"):
        raise ValueError(f"metric {name!r}: kind is discrete or continuous, aggregation "
                         "proportion or mean")
    entry = MetricSpec(name, higher_is_better, kind, unit, best, baseline, aggregation,
                       description, short or SHORT.get(name, ""))
    if name in REGISTRY and REGISTRY[name] != entry:
        raise ValueError(f"metric {name!r} is already registered differently")
    REGISTRY[name] = entry
    return entry


def lookup(name: str) -> MetricSpec | None:
    """The registry entry of a metric name, or None when it is not registered."""
    return REGISTRY.get(name)


def spec(name: str, present: list[str] | None = None) -> MetricSpec:
    """The entry of a metric the user named; an unknown name is a one-line error that suggests
    the closest names (and lists the metrics the data holds, when given)."""
    found = REGISTRY.get(name)
    if found is None:
        from difflib import get_close_matches

        close = get_close_matches(name, sorted(REGISTRY), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        there = f" (in the data: {', '.join(sorted(present))})" if present else ""
        raise UserError(f"unknown metric {name!r}{hint}{there}")
    return found


def is_discrete(name: str) -> bool:
    m = REGISTRY.get(name)
    return m is not None and m.discrete


def is_continuous(name: str) -> bool:
    m = REGISTRY.get(name)
    return m is not None and m.continuous
