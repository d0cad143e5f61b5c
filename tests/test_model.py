import torch

from emergelab.models.gpt import GPT, GPTConfig
from emergelab.models.ladder import build_ladder


def test_parameter_counts_match_closed_form():
    for L, d, h in [(1, 8, 1), (2, 32, 2), (4, 96, 6), (3, 48, 3)]:
        cfg = GPTConfig(vocab_size=98, block_size=64, n_layer=L, n_head=h, d_model=d)
        model = GPT(cfg)
        # independent closed form: per block 12d^2 + 13d, final LayerNorm 2d; embeddings V*d + T*d
        nonembed = L * (12 * d * d + 13 * d) + 2 * d
        assert model.get_num_params(non_embedding=True) == nonembed == cfg.params_nonembed()
        assert model.get_num_params(non_embedding=False) == nonembed + (98 + 64) * d
        assert sum(p.numel() for p in model.parameters()) == cfg.params_total()


def test_ladder_spans_two_decades_with_one_dial():
    members = build_ladder([8, 12, 16, 24, 32, 48, 64, 96], [0], 98, 64)
    sizes = [m.config.params_nonembed() for m in members]
    assert sizes == sorted(sizes) and len(members) >= 6
    assert sizes[-1] / sizes[0] >= 100


def test_left_padding_does_not_change_logits():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, d_model=32)).eval()
    short = torch.tensor([[1, 20, 21, 22]])
    padded = torch.tensor([[0, 0, 0, 1, 20, 21, 22]])
    mask = padded != 0
    with torch.no_grad():
        a = model(short)[0, -1]
        b = model(padded, mask)[0, -1]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_matmul_attention_matches_sdpa():
    import torch.nn.functional as F

    from emergelab.models.gpt import _matmul_attention

    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, 7, 16) for _ in range(3))
    torch.testing.assert_close(_matmul_attention(q, k, v, None),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True))
    mask = torch.ones(7, 7, dtype=torch.bool).tril() & torch.tensor([0, 0, 1, 1, 1, 1, 1]).bool()
    mask = mask | torch.eye(7, dtype=torch.bool)
    torch.testing.assert_close(_matmul_attention(q, k, v, mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_packed_forward_equals_each_batch_alone_at_the_selected_positions():
    """Training runs several right-padded groups through one packed pass and the head on answer
    positions only; it must compute what a plain forward of each group computes there."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, d_model=32)).eval()
    groups = [torch.randint(1, 98, (3, 7)), torch.randint(1, 98, (5, 12)), torch.randint(1, 98, (2, 4))]
    select = torch.rand(sum(g.numel() for g in groups)) < 0.4
    for kernel in ("sdpa", "matmul"):
        model.set_attention_kernel(kernel)
        with torch.no_grad():
            alone = torch.cat([model(g).view(-1, 99) for g in groups])[select]
            packed = model.forward_packed(groups, select)
        torch.testing.assert_close(packed, alone, rtol=1e-5, atol=1e-5)


def test_kv_cache_decoding_equals_recomputing_the_whole_sequence():
    """Generation keeps each layer's keys and values; every step's logits must be what a full
    forward over the left-padded sequence so far gives at its last position, and greedy
    generation must pick the tokens a loop recomputing everything picks."""
    from emergelab.data.tokenizer import CharTokenizer
    from emergelab.evaluate.scoring import greedy_generate

    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, d_model=32, block_size=40)).eval()
    for p in model.parameters():  # wide logits: greedy choices with clear margins
        p.data.normal_(0.0, 0.5)
    tok = CharTokenizer()
    prompts = ["12+5=", "7+8=", "abc", "9"]
    for kernel in ("sdpa", "matmul"):
        model.set_attention_kernel(kernel)
        enc = [[tok.bos_id] + tok.encode(p) for p in prompts]
        T = max(map(len, enc))
        seq = torch.tensor([[tok.pad_id] * (T - len(s)) + s for s in enc])
        mask = torch.tensor([[False] * (T - len(s)) + [True] * len(s) for s in enc])
        cache, expected = model.new_cache(), []
        with torch.no_grad():
            logits = model.decode(seq, mask, cache)
            for _ in range(6):
                torch.testing.assert_close(logits, model(seq, mask)[:, -1], rtol=1e-5, atol=1e-5)
                nxt = model(seq, mask)[:, -1].argmax(-1)  # the recomputing loop's choice
                expected.append(nxt)
                seq = torch.cat([seq, nxt[:, None]], 1)
                mask = torch.cat([mask, torch.ones(len(enc), 1, dtype=torch.bool)], 1)
                logits = model.decode(nxt[:, None], mask, cache)
        # decode() ends a row at its first end token, as generation does
        want = [tok.decode(r) for r in torch.stack(expected, 1).tolist()]
        assert greedy_generate(model, prompts, tok, 6) == want
        assert sum(map(len, want)) >= 8  # the comparison is not between empty strings
