"""Bad input ends with one clear line on stderr, exit code 2, and nothing written."""

import pytest

from .conftest import run_cli

GOOD = """
[ladder]
d_models = [8]
[train]
steps = 2
batch_size = 4
[[tasks]]
name = "add1"
"""


@pytest.mark.parametrize("text,needle", [
    ("[ladder\nd_models = [8]", "not valid TOML"),
    (GOOD + "colour = 3\n", "Extra inputs"),
    (GOOD.replace("steps = 2", "steps = 'many'"), "train.steps"),
    (GOOD.replace('"add1"', '"add9"'), "unknown task"),
    (GOOD.replace("d_models = [8]", "d_models = []"), "ladder.d_models"),
    (GOOD + 'variant = "upside"\n', "no variant"),
    (GOOD.replace("steps = 2", 'steps = "24"'), "train.steps"),  # strict: a string is no int
    (GOOD.replace("d_models = [8]", "d_models = [8]\nseeds = [0, 0]"), "seeds lists a seed twice"),
    (GOOD.replace("d_models = [8]", 'd_models = [8]\nvary = "weights"'), "ladder.vary"),
])
def test_bad_config_is_one_line_and_exit_2(tmp_path, text, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    out = tmp_path / "out"
    proc = run_cli("run", "--config", cfg, "--out", out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert not out.exists()


def test_unknown_preset_and_missing_config(tmp_path):
    proc = run_cli("run", "--preset", "enormous", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "unknown preset 'enormous'" in proc.stderr
    proc = run_cli("run", "--config", tmp_path / "nope.toml", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "cannot read config" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_unwritable_out_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("run", "--preset", "micro", "--out", blocker / "sub", "--quiet")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "cannot write" in proc.stderr


def test_out_dir_of_another_run_is_refused(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(GOOD)
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.toml").write_text("name = 'other'\n")
    proc = run_cli("run", "--config", cfg, "--out", out)
    assert proc.returncode == 2 and "different config" in proc.stderr


def test_usage_errors_are_one_line(tmp_path):
    proc = run_cli("run", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "exactly one of --preset or --config" in proc.stderr
    proc = run_cli("tasks", "--bogus")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    for flag in ("--workers", "--threads"):
        proc = run_cli("run", "--preset", "micro", "--out", tmp_path / "w", flag, "0")
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
        assert flag in proc.stderr and not (tmp_path / "w").exists()


def test_version():
    from emergelab import __version__

    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"emergelab {__version__}"
