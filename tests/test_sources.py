"""The one table loader: what every reader gets, whatever wrote the file."""

import pandas as pd
import pytest

from emergelab.errors import UserError
from emergelab.sources import final_rows, load_table, normalise


def test_final_checkpoint_marks_read_alike_from_any_writer(tmp_path):
    # the same marks as a CSV writes them (text), as 1/0, and as booleans
    for marks in (["True", "False", None], [1, 0, None], [True, False, None]):
        df = pd.DataFrame({"model": ["a", "a", "b"], "final_checkpoint": marks,
                           "task": "t", "metric": "acc", "value": [0.1, 0.2, 0.3]})
        path = tmp_path / "t.csv"
        df.to_csv(path, index=False)
        for table in (load_table(path), load_table(df)):
            assert table["final_checkpoint"].tolist()[:2] == [True, False]
            assert pd.isna(table["final_checkpoint"].iloc[2])


def test_group_keys_present_and_missing_as_none():
    df = normalise(pd.DataFrame({"task": ["t", "t"], "variant": [None, float("nan")],
                                 "metric": "acc", "value": [0.0, 1.0], "seed": [1.0, None]}))
    assert df["family"].tolist() == [None, None] and df["shots"].tolist() == [None, None]
    assert df["variant"].tolist() == [None, None]  # NaN and None are one key
    assert df.groupby(["family", "task", "variant", "shots"], dropna=False).ngroups == 1
    assert str(df["seed"].dtype) == "Int64"
    with pytest.raises(UserError, match="integers"):
        normalise(pd.DataFrame({"seed": [0.5]}))


def test_final_rows_per_model_within_its_family():
    # one model id trained in two experiments (families) to different lengths, a model whose
    # rows carry no marks (its last step counts), and one marked before its last step
    df = pd.DataFrame({
        "family": ["e1", "e1", "e2", "e2", "e2", "e3", "e3", "e4", "e4"],
        "model_id": ["m", "m", "m", "m", "m", "n", "n", "k", "k"],
        "step": [10, 20, 10, 20, 40, 5, 9, 1, 2],
        "final_checkpoint": [False, True, False, False, True, None, None, True, False]})
    got = final_rows(df)
    assert sorted(zip(got["family"], got["step"])) == [("e1", 20), ("e2", 40), ("e3", 9),
                                                       ("e4", 1)]


def test_final_rows_without_steps_or_model_column():
    df = pd.DataFrame({"model": ["a", "b"], "final_checkpoint": [None, None], "value": [1, 2]})
    assert len(final_rows(df)) == 2  # nothing marked, no steps: every row
    marked = pd.DataFrame({"final_checkpoint": ["true", "false"], "value": [1, 2]})
    assert final_rows(marked)["value"].tolist() == [1]
