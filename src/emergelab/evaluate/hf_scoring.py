"""Any local Hugging Face causal LM behind the evaluator's interface (see CharScorer).

Scores must not depend on how examples are batched (lm-evaluation-harness issues #704, #1625):
log-likelihoods are computed on right-padded batches, where a causal model never looks at the
padding; generation left-pads prompts and passes both the attention mask and explicit position
ids, so every row sees the positions it would see alone. Requests are sorted by length so a batch
wastes little on padding, and each prompt is tokenised once however many targets or options it
has.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..device import device_of
from ..errors import UserError
from ..tasks import Example
from ..tasks.base import default_generation_budget
from .scoring import cut_at_stop, next_token, stops_for


def load_hf_model(path: Path, device="cpu", dtype: torch.dtype = torch.float32):
    """(model, tokenizer) from a local directory, the model in `dtype` on `device`; nothing is
    ever fetched from a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such model directory (models are loaded from local "
                        "directories only)")
    if not (path / "config.json").exists():
        raise UserError(f"{path}: not a Hugging Face model directory (no config.json)")
    try:
        import transformers
        from safetensors import SafetensorError
    except ImportError:
        raise UserError("evaluating Hugging Face models needs the extra: "
                        "pip install 'emergelab[hf]'") from None
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # no bars from a library on our stderr
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, dtype=dtype).to(device)
    except (OSError, ValueError, KeyError, SafetensorError, RuntimeError) as err:
        raise UserError(f"{path}: cannot load the model ({_first_line(err)})") from None
    try:
        tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: cannot load the tokenizer ({_first_line(err)})") from None
    n_embed = model.get_input_embeddings().weight.shape[0]
    if len(tok) > n_embed:
        raise UserError(f"{path}: the tokenizer does not match the model ({len(tok)} tokens, "
                        f"{n_embed} embedding rows)")
    model.eval()
    return model, tok


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:300]


class HFScorer:
    """Teacher-forced log-likelihoods, option log-likelihoods and greedy generation."""

    def __init__(self, model, tokenizer, batch_size: int = 32) -> None:
        self.model, self.tok, self.batch_size = model, tokenizer, batch_size
        self.device = device_of(model)
        cfg = model.config
        self.max_len = int(getattr(cfg, "max_position_embeddings", None)
                           or getattr(cfg, "n_positions", None) or 2048)
        self.pad_id = next((i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0)
                            if i is not None))
        self._prompt_ids: dict[str, list[int]] = {}
        self._newline_ids: set[int] | None = None
        self._packing: bool | None = None  # packed options work on this model (checked once)
        self._logits_to_keep = "logits_to_keep" in inspect.signature(model.forward).parameters

    # -- tokenisation -------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        """This model's tokens of a text: the unit of its token metrics and their baselines."""
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def _encode_prompt(self, prompt: str) -> list[int]:
        ids = self._prompt_ids.get(prompt)
        if ids is None:
            ids = self.tok(prompt)["input_ids"]  # the tokenizer's own special tokens (BOS)
            if not ids:  # an empty context still needs something to condition on
                ids = [self.tok.bos_token_id if self.tok.bos_token_id is not None else self.pad_id]
            self._prompt_ids[prompt] = ids
        return ids

    def _split(self, prompt: str, target: str) -> tuple[list[int], list[int]]:
        """Context and continuation ids. Tokenised together, as the model would read them, then
        cut where the context's tokens end (lm-evaluation-harness does the same)."""
        n_space = len(prompt) - len(prompt.rstrip(" "))
        if n_space:  # "Q: ... A: " + "7": BPE vocabularies attach the space to the answer
            prompt, target = prompt[:-n_space], prompt[-n_space:] + target
        ctx = self._encode_prompt(prompt)
        whole = self.tok(prompt + target)["input_ids"]
        if whole[:len(ctx)] == ctx and len(whole) > len(ctx):
            return ctx, whole[len(ctx):]
        return ctx, self.tok(target, add_special_tokens=False)["input_ids"]

    # -- log-likelihood -----------------------------------------------------------------------
    @torch.no_grad()
    def _loglik(self, requests: list[tuple[list[int], list[int]]]):
        """Per request: each continuation token's log-probability and whether it was the argmax."""
        out: list = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: -len(requests[i][0]) - len(requests[i][1]))
        for b in range(0, len(order), self.batch_size):
            rows = []
            for i in order[b:b + self.batch_size]:
                ctx, cont = requests[i]
                seq = (ctx + cont)[-(self.max_len + 1):]  # keep the continuation whole
                rows.append((i, seq[:-1], len(cont)))
            T = max(len(s) for _, s, _ in rows)
            ids = torch.full((len(rows), T), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), T), dtype=torch.long)
            for r, (_, s, _) in enumerate(rows):  # right padding: real tokens never see it
                ids[r, :len(s)] = torch.tensor(s)
                mask[r, :len(s)] = 1
            logp = F.log_softmax(self.model(input_ids=ids.to(self.device),
                                            attention_mask=mask.to(self.device)).logits.float(), -1)
            for r, (i, s, n_cont) in enumerate(rows):
                tgt = torch.tensor(requests[i][1][-n_cont:], device=self.device)
                rows_lp = logp[r, len(s) - n_cont:len(s)]
                out[i] = (rows_lp.gather(1, tgt[:, None]).squeeze(1).tolist(),
                          (rows_lp.argmax(-1) == tgt).tolist())
        return out

    def teacher_forced(self, examples: list[Example]) -> list[tuple[list[float], list[bool]]]:
        return self._loglik([self._split(e.prompt, e.target) for e in examples])

    def choice_logprobs(self, prompt_choices: list[tuple[str, list[str]]]) -> list[list[float]]:
        """Every option's log-likelihood. The prompt is read once per question: its options are
        packed after it in one sequence, each option attending to the prompt and to itself only
        (a block mask, with each option's positions continuing from the prompt's end)."""
        groups = []
        for p, cs in prompt_choices:
            pairs = [self._split(p, c) for c in cs]
            groups.append((pairs[0][0], [cont for _, cont in pairs]))
        if self._packing is None:  # first use: check packing on this model against plain scoring
            packed = self._packed_loglik(groups[:1])[0]
            plain = [sum(lp) for lp, _ in self._loglik([(groups[0][0], c) for c in groups[0][1]])]
            self._packing = max(abs(a - b) for a, b in zip(packed, plain)) < 1e-3
        if not self._packing:
            scored = self._loglik([(ctx, c) for ctx, conts in groups for c in conts])
            it = iter(sum(lp) for lp, _ in scored)
            return [[next(it) for _ in conts] for _, conts in groups]
        return self._packed_loglik(groups)

    @torch.no_grad()
    def _packed_loglik(self, groups: list[tuple[list[int], list[list[int]]]]) -> list[list[float]]:
        out: list = [None] * len(groups)

        def layout(ctx, conts):
            longest = max(len(c) for c in conts)
            ctx = ctx[-(self.max_len - longest + 1):]
            ids, pos, seg, targets = list(ctx), list(range(len(ctx))), [-1] * len(ctx), []
            for j, c in enumerate(conts):
                # option j's token t is predicted at the prompt's last position (t = 0) or at
                # the position holding its own token t - 1; its last token is never an input
                where = [len(ctx) - 1] + [len(ids) + t for t in range(len(c) - 1)]
                ids += c[:-1]
                pos += range(len(ctx), len(ctx) + len(c) - 1)
                seg += [j] * (len(c) - 1)
                targets.append(list(zip(where, c)))
            return ids, pos, seg, targets

        layouts = [layout(ctx, conts) for ctx, conts in groups]
        order = sorted(range(len(groups)), key=lambda i: -len(layouts[i][0]))
        for b in range(0, len(order), self.batch_size):
            idxs = order[b:b + self.batch_size]
            T = max(len(layouts[i][0]) for i in idxs)
            ids = torch.full((len(idxs), T), self.pad_id, dtype=torch.long)
            pos = torch.zeros((len(idxs), T), dtype=torch.long)
            seg = torch.full((len(idxs), T), -2, dtype=torch.long)  # -2: padding
            for r, i in enumerate(idxs):
                n = len(layouts[i][0])
                ids[r, :n] = torch.tensor(layouts[i][0])
                pos[r, :n] = torch.tensor(layouts[i][1])
                seg[r, :n] = torch.tensor(layouts[i][2])
            q, k = seg[:, :, None], seg[:, None, :]
            causal = torch.ones(T, T, dtype=torch.bool).tril()
            allowed = causal & (k != -2) & ((k == -1) | (k == q))
            allowed |= torch.eye(T, dtype=torch.bool)  # padding rows see themselves: no NaN
            dtype = self.model.dtype
            mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
            dev = self.device
            # only the positions that predict an option token need the output head
            keep = sorted({w for i in idxs for tgt in layouts[i][3] for w, _ in tgt})
            kwargs = {}
            if self._logits_to_keep:
                kwargs["logits_to_keep"] = torch.tensor(keep, device=self.device)
            logits = self.model(input_ids=ids.to(dev), attention_mask=mask[:, None].to(dev),
                                position_ids=pos.to(dev), **kwargs).logits
            if not self._logits_to_keep:
                logits = logits[:, keep]
            logp = F.log_softmax(logits.float(), -1)
            col = {w: c for c, w in enumerate(keep)}
            rows, cols, toks, owner = [], [], [], []
            for r, i in enumerate(idxs):
                for j, tgt in enumerate(layouts[i][3]):
                    for w, t in tgt:
                        rows.append(r), cols.append(col[w]), toks.append(t), owner.append((i, j))
            vals = logp[torch.tensor(rows, device=dev), torch.tensor(cols, device=dev),
                        torch.tensor(toks, device=dev)].tolist()
            for i in idxs:
                out[i] = [0.0] * len(layouts[i][3])
            for (i, j), v in zip(owner, vals):
                out[i][j] += v
        return out

    # -- generation ---------------------------------------------------------------------------
    def _stop_ids(self) -> set[int]:
        """Tokens that contain a newline: answers are one line, as in lm-evaluation-harness."""
        if self._newline_ids is None:
            self._newline_ids = {i for i in range(len(self.tok))
                                 if "\n" in self.tok.decode([i])}
        return self._newline_ids

    @torch.no_grad()
    def generate(self, prompts: list[str], targets: list[str], budget=None,
                 stop_strings: tuple[str, ...] = (),
                 generator: torch.Generator | None = None) -> list[str]:
        """budget(longest target in this model's tokens) -> new tokens allowed. With a
        generator: each token sampled at temperature 1 from that stream."""
        one_line = not any("\n" in t for t in targets)
        stop = set(self._stop_ids()) if one_line else set()
        if self.tok.eos_token_id is not None:
            stop.add(self.tok.eos_token_id)
        longest = max(len(self.tok(t, add_special_tokens=False)["input_ids"]) for t in targets)
        max_new = (budget or default_generation_budget)(longest)
        results: list = [None] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: -len(self._encode_prompt(prompts[i])))
        for b in range(0, len(order), self.batch_size):
            idxs = order[b:b + self.batch_size]
            enc = [self._encode_prompt(prompts[i])[-(self.max_len - max_new):] for i in idxs]
            gen = self._greedy(enc, max_new, stop, generator)
            for i, g in zip(idxs, gen):
                text = self.tok.decode(g, skip_special_tokens=True)
                results[i] = cut_at_stop(text, stops_for(targets, stop_strings))
        return results

    def sample_generator(self, seed: int) -> torch.Generator:
        """A seeded random stream on the model's device, for sampled generation."""
        return torch.Generator(device=self.device).manual_seed(seed)

    def _greedy(self, enc: list[list[int]], max_new: int, stop: set[int],
                generator: torch.Generator | None = None) -> list[list[int]]:
        T = max(len(s) for s in enc)
        ids = torch.full((len(enc), T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(enc), T), dtype=torch.long)
        for r, s in enumerate(enc):  # left padding, with each row's own positions
            ids[r, T - len(s):] = torch.tensor(s)
            mask[r, T - len(s):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        new: list[list[int]] = [[] for _ in enc]
        done = [False] * len(enc)
        for _ in range(max_new):
            nxt = next_token(out.logits[:, -1, :], generator)
            for r, t in enumerate(nxt.tolist()):
                if not done[r]:
                    if t in stop:
                        done[r] = True
                        if t != self.tok.eos_token_id:
                            new[r].append(t)  # keep the newline token's text; cut later
                    else:
                        new[r].append(t)
            if all(done):
                break
            mask = torch.cat([mask, torch.ones(len(enc), 1, dtype=torch.long, device=self.device)],
                             1)
            pos = pos[:, -1:] + 1
            out = self.model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos,
                             past_key_values=out.past_key_values, use_cache=True)
        return new
