import json
import math

import pytest
import torch

from emergelab.config import TrainConfig
from emergelab.data.mixture import Mixture
from emergelab.errors import UserError
from emergelab.models.gpt import GPT, GPTConfig
from emergelab.models.ladder import Member
from emergelab.tasks import build_task
from emergelab.train.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from emergelab.train.loop import train_member
from emergelab.train.schedule import checkpoint_steps, lr_at

CFG = TrainConfig(steps=30, batch_size=16, warmup_steps=5, checkpoints=4, val_batch=32, lr=3e-3)


def _member():
    return Member("m", 3, GPTConfig(vocab_size=99, block_size=32, n_layer=2, n_head=2, d_model=16))


def _mixture():
    return Mixture([build_task("add", "reversed", digits=2), build_task("facts", entities=10)],
                   [1.0, 1.0], seed=11)


def _weights(path):
    model, _ = load_checkpoint(path)
    return model.state_dict()


def test_schedule_warmup_cosine_and_log_checkpoints():
    assert lr_at(0, 1.0, 100, 10, 0.1) == pytest.approx(0.1)
    assert lr_at(9, 1.0, 100, 10, 0.1) == pytest.approx(1.0)
    assert lr_at(100, 1.0, 100, 10, 0.1) == pytest.approx(0.1)
    mid = 10 + 45
    assert lr_at(mid, 1.0, 100, 10, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    steps = checkpoint_steps(800, 10)
    assert steps[0] == 0 and steps[-1] == 800 and 1 in steps
    gaps = [b / a for a, b in zip(steps[1:], steps[2:])]
    assert max(gaps) / min(gaps) < 1.5  # evenly spaced in log


def test_checkpoint_round_trip_keeps_logits(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, d_model=16)).eval()
    save_checkpoint(model, tmp_path / "step_3", {"step": 3})
    loaded, info = load_checkpoint(tmp_path / "step_3")
    x = torch.randint(3, 98, (2, 10))
    assert info["step"] == 3
    assert torch.equal(model(x), loaded(x))
    assert not list(tmp_path.glob(".tmp-*"))


def test_corrupted_checkpoint_is_a_user_error(tmp_path):
    model = GPT(GPTConfig(n_layer=1, n_head=1, d_model=8))
    save_checkpoint(model, tmp_path / "c", {})
    (tmp_path / "c" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupted"):
        load_checkpoint(tmp_path / "c")
    with pytest.raises(UserError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "missing")


def test_killed_run_resumes_to_identical_weights(tmp_path):
    train_member(_member(), _mixture(), CFG, tmp_path / "straight")
    # a "kill" after step 17, mid-way between checkpoints 10 and 30: the resume restarts at the
    # last checkpoint (step 10) and must end with the same weights
    train_member(_member(), _mixture(), CFG, tmp_path / "killed", stop_at=17)
    assert list_checkpoints(tmp_path / "killed")[-1][0] < CFG.steps
    train_member(_member(), _mixture(), CFG, tmp_path / "killed")
    a = _weights(tmp_path / "straight" / f"step_{CFG.steps}")
    b = _weights(tmp_path / "killed" / f"step_{CFG.steps}")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [s for s, _ in list_checkpoints(tmp_path / "straight")]
    assert steps == checkpoint_steps(CFG.steps, CFG.checkpoints)


def test_resuming_in_another_precision_is_a_user_error(tmp_path):
    train_member(_member(), _mixture(), CFG.model_copy(update={"precision": "fp32"}),
                 tmp_path / "m", stop_at=10)
    with pytest.raises(UserError, match="trained in fp32 and this run would continue in bf16"):
        train_member(_member(), _mixture(), CFG.model_copy(update={"precision": "bf16"}),
                     tmp_path / "m")


def test_training_lowers_validation_loss(tmp_path):
    train_member(_member(), _mixture(), CFG, tmp_path / "m")
    ckpts = list_checkpoints(tmp_path / "m")
    first, last = load_checkpoint(ckpts[0][1])[1], load_checkpoint(ckpts[-1][1])[1]
    assert last["val_loss"] < first["val_loss"]
    assert first["tokens"] == 0 and last["tokens"] > 0
    assert last["flops"] == 6 * last["params_nonembed"] * last["tokens"]


def test_kernels_are_timed_once_recorded_and_reused(tmp_path, monkeypatch):
    from emergelab.train.kernels import Kernels, choose_kernels

    members = [_member(), Member("m2", 4, _member().config),  # same shape: timed once
               Member("w", 0, GPTConfig(vocab_size=99, block_size=32, n_layer=1, n_head=1, d_model=8))]
    timed = []
    path = tmp_path / "kernels.json"
    first = choose_kernels(members, _mixture(), CFG, path, on_measure=timed.append)
    assert timed == ["m", "w"] and set(first) == {"m", "m2", "w"} and first["m"] == first["m2"]
    assert all(isinstance(k, Kernels) for k in first.values())
    again = choose_kernels(members, _mixture(), CFG, path, on_measure=timed.append)
    assert again == first and timed == ["m", "w"]  # a resumed run measures nothing
    # another run on this machine takes the choices from its cache: nothing timed, same kernels
    other = choose_kernels(members, _mixture(), CFG, tmp_path / "other.json",
                           on_measure=timed.append)
    assert other == first and timed == ["m", "w"]
    assert json.loads((tmp_path / "other.json").read_text())["members"]["w"]["source"] == "machine cache"
    # a damaged cache entry (an unknown kernel) is not trusted: that shape is measured again
    from emergelab.train.kernels import machine_cache

    cache = json.loads(machine_cache().read_text())
    for entry in cache.values():
        entry["attention"] = "bogus"
    machine_cache().write_text(json.dumps(cache))
    choose_kernels(members, _mixture(), CFG, tmp_path / "damaged.json", on_measure=timed.append)
    assert timed == ["m", "w", "m", "w"]
    timed[2:] = []
    # a machine cache that is not there (another machine, or deleted): measured again
    monkeypatch.setenv("EMERGELAB_CACHE_DIR", str(tmp_path / "elsewhere"))
    choose_kernels(members, _mixture(), CFG, tmp_path / "third.json", on_measure=timed.append)
    assert timed == ["m", "w", "m", "w"]
    pinned = CFG.model_copy(update={"precision": "fp32", "attention": "matmul"})
    assert choose_kernels(members, _mixture(), pinned, tmp_path / "p.json",
                          on_measure=timed.append)["w"] == Kernels("fp32", "matmul")
    assert timed == ["m", "w", "m", "w"]  # nothing to choose: nothing timed


def test_prebuilt_batches_are_the_mixtures_batches_and_train_the_same(tmp_path):
    """The run builds its batches once for all members (data/prebuilt.py); a member trained on
    them must end with the weights of one building each batch itself, and a build killed before
    its index was written is redone."""
    from emergelab.data import prebuilt

    mixture = _mixture()
    prebuilt.build(mixture, 20, CFG.batch_size, tmp_path / "b")
    batches = prebuilt.PrebuiltBatches.open(tmp_path / "b", mixture.tok.pad_id)
    assert len(batches) == 20
    for step in (0, 7, 19):
        got, want = batches.batch(step), mixture.packed_batch(step, CFG.batch_size)
        assert got.tokens == want.tokens and len(got.groups) == len(want.groups)
        assert torch.equal(got.select, want.select) and torch.equal(got.targets, want.targets)
        for g, w in zip(got.groups, want.groups):
            assert torch.equal(g.idx, w.idx) and torch.equal(g.mask, w.mask)
    cfg = CFG.model_copy(update={"steps": 24})  # the last 4 steps build their own batches
    train_member(_member(), mixture, cfg, tmp_path / "own")
    train_member(_member(), mixture, cfg, tmp_path / "shared", batches=batches)
    own, shared = list_checkpoints(tmp_path / "own"), list_checkpoints(tmp_path / "shared")
    assert len(own) == len(shared) == CFG.checkpoints + 1
    for (_, a), (_, b) in zip(own, shared):
        wa, wb = _weights(a), _weights(b)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
    (tmp_path / "b" / prebuilt.INDEX).unlink()  # as if killed before the index was written
    assert prebuilt.PrebuiltBatches.open(tmp_path / "b", mixture.tok.pad_id) is None
    prebuilt.build(mixture, 20, CFG.batch_size, tmp_path / "b")
    assert len(prebuilt.PrebuiltBatches.open(tmp_path / "b", mixture.tok.pad_id)) == 20
