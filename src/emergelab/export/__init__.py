"""Our checkpoints and tasks in other tools' formats: a Hugging Face model directory (hf.py) and
lm-evaluation-harness task YAML + JSONL with the same few-shot prompts (lmeval.py)."""
