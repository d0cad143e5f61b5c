"""The published tables travel with the repository and are reachable by name."""

import json

from .conftest import DATASETS, run_cli


def test_every_dataset_name_names_a_file_with_a_readme():
    from emergelab.datasets import DATASETS as NAMES, datasets_dir, resolve

    assert datasets_dir() == DATASETS
    for name, (file, _) in NAMES.items():
        path = resolve(name)
        assert path == DATASETS / file and path.is_file(), name
        # each table has its README beside it (pythia_evals.README.md) or in its folder
        assert (path.parent / f"{path.stem}.README.md").is_file() or \
            (path.parent / "README.md").is_file(), name


def test_a_name_reads_the_same_rows_as_its_path():
    where = "task = 'arc_easy' AND shots = 0 AND family = 'pythia'"
    by_name = run_cli("analyze", "pythia", "--where", where, "--json")
    by_path = run_cli("analyze", DATASETS / "pythia_evals.csv", "--where", where, "--json")
    assert by_name.returncode == 0, by_name.stderr
    assert json.loads(by_name.stdout) == json.loads(by_path.stdout)
    assert len(json.loads(by_name.stdout)) >= 2        # acc and acc_norm of one family


def test_a_file_of_the_same_name_wins_and_an_unknown_name_lists_the_names(tmp_path):
    from emergelab.datasets import resolve

    (tmp_path / "pythia").write_text("task,metric,value,params\n")
    assert resolve(tmp_path / "pythia") == tmp_path / "pythia"
    proc = run_cli("analyze", "pythya", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "nor a dataset name" in proc.stderr and "pythia" in proc.stderr


def test_the_datasets_command_lists_every_name_in_80_columns():
    from emergelab.datasets import DATASETS as NAMES

    proc = run_cli("datasets", columns=80)
    assert proc.returncode == 0, proc.stderr
    assert all(len(line) <= 80 for line in proc.stdout.splitlines())
    for name, (file, _) in NAMES.items():
        assert f"{name}  datasets/{file}" in proc.stdout
