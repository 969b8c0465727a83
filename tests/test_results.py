"""The results store: atomic appends, torn lines, incomplete attempts, parquet, provenance."""

import json
import math

import pandas as pd
import pytest

from suite.results import (
    PROVENANCE_COLUMNS,
    ResultStore,
    load_results,
    make_row,
    provenance,
    read_jsonl,
    to_frame,
    write_parquet,
)

CELL = dict(run_id="r1", cell_id="c1", variant="v1", family="f", scale="tiny", probe="p")


def cell_rows(cell_id="c1", attempt="a1", n=2, variant="v1", run_id="r1", **settings):
    cell = {**CELL, "cell_id": cell_id, "variant": variant, "run_id": run_id}
    book = dict(attempt=attempt, cell_rows=n, cell_seconds=0.1)
    return [
        make_row(
            cell=cell,
            metric=f"m{i}",
            value=float(i),
            unit="ms",
            lower_is_better=True,
            settings={"context": 64 * (i + 1), **settings},
            extra={"samples": [1, 2]},
            bookkeeping=book,
        )
        for i in range(n)
    ]


def test_append_and_load_roundtrip(tmp_path):
    store = ResultStore(tmp_path)
    store.append(cell_rows())
    df = load_results(tmp_path)
    assert list(df["metric"]) == ["m0", "m1"]
    assert list(df["settings.context"]) == [64, 128]
    assert df["value"].dtype == float
    assert json.loads(df["extra"][0]) == {"samples": [1, 2]}
    assert (df["status"] == "ok").all() and (df["error"] == "").all()
    # every line is one JSON object
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["cell_id"] == "c1" for line in lines)


def test_nan_value_is_stored_as_null_and_loads_as_nan(tmp_path):
    ResultStore(tmp_path).append([make_row(cell=CELL, metric="m", value=float("nan"))])
    assert '"value": null' in (tmp_path / "results.jsonl").read_text()
    assert math.isnan(load_results(tmp_path)["value"][0])


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="status must be one of"):
        make_row(cell=CELL, metric="m", value=1.0, status="crashed")


def test_torn_last_line_is_skipped_with_a_warning_and_repaired_on_append(tmp_path):
    store = ResultStore(tmp_path)
    store.append(cell_rows("c1", "a1"))
    with open(store.path, "ab") as f:  # a crash in the middle of writing the next cell
        f.write(b'{"run_id": "r1", "cell_id": "c2", "metr')
    with pytest.warns(UserWarning, match="torn by a crash"):
        assert {r["cell_id"] for r in read_jsonl(store.path)} == {"c1"}
    store.append(cell_rows("c3", "a3"))  # the next append must not glue onto the torn line
    with pytest.warns(UserWarning, match="unreadable line 3"):
        df = load_results(tmp_path)
    assert sorted(set(df["cell_id"])) == ["c1", "c3"]


def test_incomplete_attempt_is_dropped_with_a_warning(tmp_path):
    store = ResultStore(tmp_path)
    store.append(cell_rows("c1", "a1", n=2))
    store.append(cell_rows("c2", "a2", n=3)[:2])  # two of the three rows reached the disk
    with pytest.warns(UserWarning, match="dropped 1 incomplete cell attempt"):
        df = load_results(tmp_path)
    assert set(df["cell_id"]) == {"c1"}


def test_latest_complete_attempt_of_a_cell_wins(tmp_path):
    store = ResultStore(tmp_path)
    old = cell_rows("c1", "a1", n=2)
    new = cell_rows("c1", "a2", n=1, run_id="r2")
    store.append(old)
    store.append(new)
    df = load_results(tmp_path)
    assert list(df["attempt"]) == ["a2"] and list(df["run_id"]) == ["r2"]
    assert len(load_results(tmp_path, latest=False)) == 3


def test_load_results_concatenates_runs(tmp_path):
    ResultStore(tmp_path / "a").append(cell_rows("c1", "a1", variant="v1"))
    ResultStore(tmp_path / "b").append(cell_rows("c1", "a1", variant="v1"))  # same cell, other machine
    df = load_results(tmp_path / "a", tmp_path / "b")
    assert len(df) == 4


def test_load_results_of_a_folder_without_results_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.jsonl or results.parquet in"):
        load_results(tmp_path)


def test_empty_store_loads_an_empty_frame_with_the_schema(tmp_path):
    (tmp_path / "results.jsonl").write_text("")
    df = load_results(tmp_path)
    assert df.empty and {"variant", "metric", "value", "status", "git_sha"} <= set(df.columns)


def test_parquet_copy_round_trips_mixed_setting_types(tmp_path):
    store = ResultStore(tmp_path)
    store.append(cell_rows("c1", "a1", window=128))
    store.append(cell_rows("c2", "a2", window="none"))  # pyarrow refuses an int/str object column
    path = write_parquet(tmp_path)
    back = pd.read_parquet(path)
    assert len(back) == 4
    assert sorted(back["settings.window"].astype(str).unique()) == ["128", "none"]
    (tmp_path / "results.jsonl").unlink()  # the parquet copy alone still loads
    assert len(load_results(tmp_path)) == 4


def test_list_settings_are_stored_as_json_text(tmp_path):
    ResultStore(tmp_path).append([make_row(cell=CELL, metric="m", value=1.0, settings={"contexts": [64, 128]})])
    assert load_results(tmp_path)["settings.contexts"][0] == "[64, 128]"


def test_provenance_names_machine_and_versions():
    prov = provenance()
    assert set(prov) == set(PROVENANCE_COLUMNS)
    assert {"git_sha", "torch_version", "device", "cpu_model", "threads", "date"} <= set(prov)
    assert prov["threads"] >= 1 and prov["date"].endswith("+00:00")
    assert prov["device"] == "cpu" or prov["device"].startswith("cuda:")
    assert prov["git_sha"] == "unknown" or len(prov["git_sha"].split("+")[0]) == 40


def test_to_frame_orders_schema_then_settings():
    df = to_frame(cell_rows())
    cols = list(df.columns)
    assert cols[:6] == ["run_id", "cell_id", "variant", "family", "scale", "probe"]
    assert cols.index("error") < cols.index("settings.context") < cols.index("extra")
