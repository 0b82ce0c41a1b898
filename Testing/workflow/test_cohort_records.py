"""A stored cohort result is reused only when it was made from the same inputs and validates."""

import json

import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.workflow import cohort_records
from SaliencyExplorerLib.workflow.cohort import Case

METHODS = ["gradcam", "saliency"]


def _row(name, position, **changes):
    return {
        "method": name,
        "rank": position,
        "deletion_auc": 0.4,
        "insertion_auc": 0.6,
        "random_deletion_auc": 0.5,
        "random_insertion_auc": 0.5,
        "faithfulness_score": 0.2,
        "pointing_hit": True,
        "energy_fraction": 0.3,
        "sanity_flagged": False,
        "seconds": 0.1,
        "error": None,
        **changes,
    }


def _record(key="k", **row_changes):
    return {
        "case": "a",
        "key": key,
        "error": None,
        "seconds": 1.0,
        "image": "/data/a.nrrd",
        "table": [_row("gradcam", 1, **row_changes), _row("saliency", 2)],
    }


def test_a_good_record_is_reused_and_every_tampering_is_not():
    assert cohort_records.problem(_record(), "a", "k", METHODS) is None
    bad = {
        "another key": (_record(key="other"), "other inputs"),
        "another case": ({**_record(), "case": "b"}, "another case"),
        "a failed run": ({**_record(), "error": "boom"}, "failed"),
        "score 1e308": (_record(faithfulness_score=1e308), "row"),
        "an AUC of 7": (_record(deletion_auc=7.0), "row"),
        "a negative time": (_record(seconds=-1.0), "row"),
        "a formula method": (_record(method='=HYPERLINK("http://x","gradcam")'), "row"),
        "a formula in any text": (_record(error="@SUM(A1)"), "row"),
        "a rank of 99": (_record(rank=99), "row"),
        "a rank that is a string": (_record(rank="1"), "row"),
    }
    for name, (record, reason) in bad.items():
        assert reason in (cohort_records.problem(record, "a", "k", METHODS) or ""), name
    non_dict_rows = {**_record(), "table": [1, "gradcam", None]}
    assert "row" in cohort_records.problem(non_dict_rows, "a", "k", METHODS)
    assert cohort_records.problem(["not", "a", "dict"], "a", "k", METHODS) == "not a record"
    # another method set: a record with only gradcam is not a result for gradcam + hirescam
    assert cohort_records.problem(_record(), "a", "k", ["gradcam", "hirescam"]) is not None
    assert cohort_records.problem({**_record(), "table": [_row("gradcam", 1)]}, "a", "k", METHODS) == "other methods"


def test_reading_a_hostile_record_file_never_raises(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps(_record()).replace("0.2", "NaN"))
    assert cohort_records.read_record(deep) is None
    assert cohort_records.read_record(tmp_path / "missing.json") is None
    assert cohort_records.problem(cohort_records.read_record(nan), "a", "k", METHODS) is not None


def test_the_key_changes_with_every_input_that_made_the_result(tmp_path):
    image = sitk.Image([4, 4, 4], sitk.sitkFloat32)
    sitk.WriteImage(image, str(tmp_path / "a.nhdr"))  # header + a.raw.gz: the data file counts
    (tmp_path / "m.pt").write_bytes(b"model one")
    (tmp_path / "m.json").write_text("{}")
    case = Case("a", str(tmp_path / "a.nhdr"))
    shared = cohort_records.run_key(str(tmp_path / "m.pt"), None, METHODS, {"steps": 8})
    key = cohort_records.case_key(case, shared)
    assert key == cohort_records.case_key(
        case, cohort_records.run_key(str(tmp_path / "m.pt"), None, METHODS, {"steps": 8})
    )
    changed = {
        "methods": cohort_records.case_key(case, {**shared, "methods": ["gradcam"]}),
        "options": cohort_records.case_key(
            case, cohort_records.run_key(str(tmp_path / "m.pt"), None, METHODS, {"steps": 9})
        ),
        "target": cohort_records.case_key(Case("a", case.image, None, 1), shared),
    }
    (tmp_path / "m.json").write_text('{"classes": ["x"]}')  # the card beside the model
    changed["card"] = cohort_records.case_key(
        case, cohort_records.run_key(str(tmp_path / "m.pt"), None, METHODS, {"steps": 8})
    )
    (tmp_path / "m.pt").write_bytes(b"model two")
    changed["model"] = cohort_records.case_key(
        case, cohort_records.run_key(str(tmp_path / "m.pt"), None, METHODS, {"steps": 8})
    )
    sitk.WriteImage(image + 1, str(tmp_path / "a.nhdr"))
    changed["voxel data"] = cohort_records.case_key(case, shared)
    for name, other in changed.items():
        assert other != key, name
    assert len(set(changed.values())) == len(changed)


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)"])
def test_csv_cells_that_a_spreadsheet_would_run_are_written_as_text(tmp_path, text):
    from SaliencyExplorerLib.evaluation.compare import write_table

    write_table(tmp_path / "t.csv", [{"case": text, "method": "gradcam"}], ["case", "method"])
    assert tmp_path.joinpath("t.csv").read_text().splitlines()[1].startswith(("'", "\"'"))
