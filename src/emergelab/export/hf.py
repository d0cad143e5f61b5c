"""Our checkpoints as Hugging Face model directories, so every tool of the ecosystem can use them.

Our GPT is GPT-2's architecture with exact GELU: pre-norm blocks, learned positions, biases
everywhere, a head tied to the token table, LayerNorm eps 1e-5. So a checkpoint maps onto
`GPT2LMHeadModel` weight for weight; only GPT-2's Conv1D stores its matrices transposed. The
character tokenizer becomes a `tokenizers` BPE with no merges (one token per character, same ids),
which adds the <bos> token our models were trained to start from.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.tokenizer import BOS, EOS, PAD, SPECIALS, CharTokenizer
from ..errors import UserError
from ..train.checkpoint import atomic_dir, list_checkpoints, load_checkpoint

# ours -> GPT-2's names inside transformer.h.<i>; True where Conv1D wants the transpose
_BLOCK_MAP = {"ln1": ("ln_1", False), "attn.qkv": ("attn.c_attn", True),
              "attn.proj": ("attn.c_proj", True), "ln2": ("ln_2", False),
              "fc": ("mlp.c_fc", True), "out": ("mlp.c_proj", True)}


def resolve_checkpoint(path: Path) -> Path:
    """A step directory, or a model directory (its last step)."""
    path = Path(path)
    if (path / "config.json").exists():
        return path
    steps = list_checkpoints(path)
    if not steps:
        raise UserError(f"{path}: not a checkpoint (no config.json, no step_* directories)")
    return steps[-1][1]


def gpt2_state_dict(model) -> dict[str, torch.Tensor]:
    out = {"transformer.wte.weight": model.wte.weight, "transformer.wpe.weight": model.wpe.weight,
           "transformer.ln_f.weight": model.ln_f.weight, "transformer.ln_f.bias": model.ln_f.bias,
           "lm_head.weight": model.wte.weight}
    for i, block in enumerate(model.blocks):
        for ours, (theirs, transpose) in _BLOCK_MAP.items():
            mod = block.get_submodule(ours)
            out[f"transformer.h.{i}.{theirs}.weight"] = mod.weight.T if transpose else mod.weight
            out[f"transformer.h.{i}.{theirs}.bias"] = mod.bias
    return {k: v.detach().contiguous().clone() for k, v in out.items()}


def char_tokenizer_fast():
    """The character tokenizer as a transformers fast tokenizer with identical ids."""
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    itos = CharTokenizer().itos
    core = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(itos)}, merges=[]))
    core.add_special_tokens(SPECIALS)
    core.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS[BOS]} $A", pair=f"{SPECIALS[BOS]} $A $B",
        special_tokens=[(SPECIALS[BOS], BOS)])
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=SPECIALS[BOS],
                                   eos_token=SPECIALS[EOS], pad_token=SPECIALS[PAD],
                                   clean_up_tokenization_spaces=False)


def export_hf(checkpoint: Path, out_dir: Path) -> Path:
    """Write checkpoint as a Hugging Face model directory (atomically); returns the step used."""
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
    except ImportError:
        raise UserError("export hf needs the extra: pip install 'emergelab[hf]'") from None
    step_dir = resolve_checkpoint(checkpoint)
    model, info = load_checkpoint(step_dir)
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir} exists and is not an empty directory")
    c = model.cfg
    hf_cfg = GPT2Config(
        vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.d_model, n_layer=c.n_layer,
        n_head=c.n_head, n_inner=4 * c.d_model, activation_function="gelu",  # exact, not tanh
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
        bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, tie_word_embeddings=True,
        emergelab={k: info.get(k) for k in ("model_id", "step", "params", "params_nonembed",
                                            "tokens", "flops", "val_loss")})
    hf = GPT2LMHeadModel(hf_cfg)
    missing, unexpected = hf.load_state_dict(gpt2_state_dict(model), strict=False)
    if unexpected or [k for k in missing if not k.endswith("attn.bias")]:
        raise RuntimeError(f"weight mapping is incomplete: {missing} {unexpected}")
    hf.eval()
    tok = char_tokenizer_fast()
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        if out_dir.exists():
            out_dir.rmdir()  # empty: replaced atomically below

        def write(tmp: Path) -> None:
            hf.save_pretrained(tmp, safe_serialization=True)
            tok.save_pretrained(tmp)
            (tmp / "emergelab.json").write_text(json.dumps({"source": str(step_dir), **info},
                                                           indent=2, default=str))

        atomic_dir(out_dir, write)
    except OSError as err:
        raise UserError(f"cannot write {out_dir}: {err.strerror}") from None
    return step_dir
