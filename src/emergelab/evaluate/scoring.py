"""Running a model on examples: batched greedy generation and teacher-forced log-likelihood.

Works on our GPT (`forward(idx, pad_mask)`, and `decode` for generation). Generation left-pads
prompts and passes the padding mask, so a prompt's output does not depend on its batch
neighbours; it keeps a KV cache, so each new token runs one position, not the whole sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.tokenizer import CharTokenizer
from ..device import device_of
from ..tasks import Example
from ..tasks.base import default_generation_budget


@torch.no_grad()
def teacher_forced(model, examples: list[Example], tok: CharTokenizer,
                   batch_size: int = 256) -> list[tuple[list[float], list[bool]]]:
    """Per example: log-probability of each target token given prompt and earlier target tokens,
    and whether it was the argmax."""
    out = []
    device = device_of(model)
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        seqs = [[tok.bos_id] + tok.encode(e.prompt) + tok.encode(e.target) for e in chunk]
        T = max(len(s) for s in seqs)
        idx = torch.full((len(seqs), T), tok.pad_id, dtype=torch.long)
        for r, s in enumerate(seqs):
            idx[r, :len(s)] = torch.tensor(s)
        logp = F.log_softmax(model(idx.to(device)).float(), dim=-1).cpu()
        for r, (e, s) in enumerate(zip(chunk, seqs)):
            n_t = len(e.target)
            start = len(s) - n_t  # position of the first target token
            tgt = idx[r, start:len(s)]
            rows = logp[r, start - 1:len(s) - 1]
            out.append((rows.gather(1, tgt[:, None]).squeeze(1).tolist(),
                        (rows.argmax(-1) == tgt).tolist()))
    return out


def next_token(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each row's next token: the argmax, or with a generator one sampled at temperature 1 from
    that stream (both scorers decode with this)."""
    if generator is None:
        return logits.argmax(-1)
    return torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=generator).squeeze(-1)


@torch.no_grad()
def greedy_generate(model, prompts: list[str], tok: CharTokenizer, max_new_tokens: int,
                    batch_size: int = 256, stop: tuple[str, ...] = (),
                    generator: torch.Generator | None = None) -> list[str]:
    """Greedy continuation of each prompt up to the end token, a stop string or max_new_tokens;
    the text is cut before the first stop string. With a generator, each token is sampled from
    the model's distribution instead (temperature 1), from that generator's stream."""
    stop_ids = {tok.stoi[s] for s in stop if len(s) == 1 and s in tok.stoi}
    block = model.cfg.block_size
    device = device_of(model)
    results: list[str] = []
    for i in range(0, len(prompts), batch_size):
        enc = [[tok.bos_id] + tok.encode(p) for p in prompts[i:i + batch_size]]
        T = max(len(s) for s in enc)
        idx = torch.full((len(enc), T), tok.pad_id, dtype=torch.long)
        mask = torch.zeros((len(enc), T), dtype=torch.bool)
        for r, s in enumerate(enc):
            idx[r, T - len(s):] = torch.tensor(s)
            mask[r, T - len(s):] = True
        idx, mask = idx.to(device), mask.to(device)
        done = torch.zeros(len(enc), dtype=torch.bool, device=device)
        new = []
        steps = min(max_new_tokens, block - T)
        cache = model.new_cache()
        logits = model.decode(idx, mask, cache) if steps > 0 else None
        real = torch.ones(len(enc), 1, dtype=torch.bool, device=device)
        for n in range(steps):
            nxt = next_token(logits, generator)
            nxt = torch.where(done, torch.full_like(nxt, tok.eos_id), nxt)
            new.append(nxt)
            done |= nxt == tok.eos_id
            for sid in stop_ids:  # one-token stops end a row at once; longer ones are cut below
                done |= nxt == sid
            if bool(done.all()) or n + 1 == steps:
                break
            mask = torch.cat([mask, real], dim=1)
            logits = model.decode(nxt[:, None], mask, cache)
        gen = torch.stack(new, 1).tolist() if new else [[] for _ in enc]
        results.extend(cut_at_stop(tok.decode(g), stop) for g in gen)
    return results


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """text up to the first of the stop strings (all of it when none occurs)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


def stops_for(targets: list[str], extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A newline ends one-line answers (as lm-evaluation-harness's `until`); a task's own stop
    strings end any."""
    one_line = not any("\n" in t for t in targets)
    return (("\n",) if one_line else ()) + tuple(extra)


class CharScorer:
    """Our GPT with the character tokenizer, behind the interface the evaluator uses (the
    Hugging Face scorer in hf_scoring.py has the same three methods)."""

    char_level = True  # one token per character: task metrics may index tokens by character

    def __init__(self, model, batch_size: int = 256) -> None:
        self.model, self.batch_size, self.tok = model, batch_size, CharTokenizer()

    @staticmethod
    def tokenize(text: str) -> list:
        """This scorer's tokens of a text, the unit of its token metrics: its characters."""
        return list(text)

    def teacher_forced(self, examples: list[Example]) -> list[tuple[list[float], list[bool]]]:
        return teacher_forced(self.model, examples, self.tok, self.batch_size)

    def generate(self, prompts: list[str], targets: list[str], budget=None,
                 stop: tuple[str, ...] = (), generator: torch.Generator | None = None) -> list[str]:
        """budget(longest target in tokens) -> new tokens allowed (default: Task's rule);
        one character is one token here. With a generator: sampled at temperature 1."""
        longest = max(len(t) for t in targets)
        max_new = (budget or default_generation_budget)(longest)
        return greedy_generate(self.model, prompts, self.tok, max_new, self.batch_size,
                               stops_for(targets, stop), generator)

    def sample_generator(self, seed: int) -> torch.Generator:
        """A seeded random stream on the model's device, for sampled generation."""
        return torch.Generator(device=device_of(self.model)).manual_seed(seed)

    def choice_logprobs(self, prompt_choices: list[tuple[str, list[str]]]) -> list[list[float]]:
        """Log-likelihood of every option of every (prompt, options) pair."""
        flat = [Example(p, c, c) for p, cs in prompt_choices for c in cs]
        lps = iter(sum(lp) for lp, _ in self.teacher_forced(flat))
        return [[next(lps) for _ in cs] for _, cs in prompt_choices]
