"""The capability monitor keeps its alerts per experiment: a suite's experiments may reuse a
model_id, and each experiment's first crossing must alert."""

from emergelab.data.tokenizer import CharTokenizer
from emergelab.models.gpt import GPT, GPTConfig
from emergelab.evaluate.monitor import CapabilityMonitor, ProbeConfig


def test_alerts_are_kept_per_experiment(tmp_path):
    # edit distance <= 100 holds for any model: every probe evaluation crosses
    probe = ProbeConfig(task="add", variant="reversed", options={"digits": 2},
                        metric="token_edit_distance", threshold=100.0, every=1, n=5)
    model = GPT(GPTConfig(vocab_size=CharTokenizer().vocab_size, block_size=32, n_layer=1,
                          n_head=1, d_model=8))
    alerts = []
    log = tmp_path / "monitor.jsonl"
    monitor = CapabilityMonitor([probe], log, alert=alerts.append)
    for experiment in ("ladder", "steps"):
        monitor.experiment = experiment
        monitor("L1-d8-s0", 1, model)
        monitor("L1-d8-s0", 2, model)  # the same crossing again: no second alert
    assert len(alerts) == 2
    assert "ladder/L1-d8-s0" in alerts[0] and "steps/L1-d8-s0" in alerts[1]
    # a resumed run reads both alerts back, each under its own experiment
    resumed = CapabilityMonitor([probe], log, alert=alerts.append, experiment="steps")
    resumed("L1-d8-s0", 3, model)
    assert len(alerts) == 2
    resumed.experiment = "induction"
    resumed("L1-d8-s0", 3, model)
    assert len(alerts) == 3
