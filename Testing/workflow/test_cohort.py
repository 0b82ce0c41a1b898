"""The cohort runner on a 2-worker dask LocalCluster: the same numbers as the cases one by one, finished
cases skipped on a re-run, a damaged case recorded with its error."""

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("dask.distributed")

from helpers.model_files import tiny_lesion_model  # noqa: E402
from SaliencyExplorerLib.demo import phantoms  # noqa: E402
from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402
from SaliencyExplorerLib.workflow import cohort_records  # noqa: E402
from SaliencyExplorerLib.workflow.cohort import Case, read_cases, run_case, run_cohort  # noqa: E402

METHODS = ["gradcam", "saliency"]
OPTIONS = dict(steps=8, random_repeats=1, sanity_layers=2)


def tiny_cases(folder, n=4):
    rows = []
    for i in range(n):
        image, mask = phantoms.make_phantom(
            size=(24, 24, 24),
            spacing=(2.0, 2.0, 2.0),
            lesion_center_lps=(4.0 * (i - 1), 3.0, -2.0),
            lesion_radius_mm=6.0,
            seed=i,
        )
        sitk.WriteImage(image, str(folder / f"c{i}.nrrd"))
        sitk.WriteImage(mask, str(folder / f"c{i}_region.nrrd"))
        rows.append(
            {"case": f"case{i}", "image": f"c{i}.nrrd", "region": f"c{i}_region.nrrd", "target": "1" if i == 0 else ""}
        )
    return rows


def _write_csv(path, rows):
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["case", "image", "region", "target"])
        writer.writeheader()
        writer.writerows(rows)


def _read(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_cohort_on_two_workers_matches_one_by_one_resumes_and_records_a_damaged_case(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    model, card = tiny_lesion_model(data)
    rows = tiny_cases(data)
    (data / "broken.nrrd").write_text("this is not an image")
    rows.append({"case": "broken", "image": "broken.nrrd", "region": "", "target": ""})
    _write_csv(data / "cases.csv", rows)
    out = tmp_path / "out"
    (out / "cases").mkdir(parents=True)
    case2 = next(c for c in read_cases(data / "cases.csv") if c.name == "case2")
    key = cohort_records.case_key(
        case2, cohort_records.run_key(str(model.resolve()), str(card.resolve()), METHODS, OPTIONS)
    )
    marker = {
        "case": "case2",
        "error": None,
        "seconds": 1.0,
        "key": key,  # made from these very inputs
        "table": [{"method": m, "rank": k + 1, "deletion_auc": 0.123456} for k, m in enumerate(METHODS)],
    }
    (out / "cases" / "case2.json").write_text(json.dumps(marker))  # a case finished by an interrupted run

    result = run_cohort(data / "cases.csv", model, card, METHODS, out, workers=2, **OPTIONS)

    assert result.skipped == ["case2"] and result.workers == 2
    table = _read(out / "cases.csv")
    assert {
        "case",
        "method",
        "pointing_hit",
        "energy_fraction",
        "deletion_auc",
        "insertion_auc",
        "random_deletion_auc",
        "random_insertion_auc",
        "sanity_flagged",
        "seconds",
        "error",
    } <= set(table[0])
    assert [r["deletion_auc"] for r in table if r["case"] == "case2"] == ["0.123456"] * 2  # skipped, not rerun
    broken = [r for r in table if r["case"] == "broken"]
    assert len(broken) == 2 and all("cannot read" in r["error"] for r in broken)
    assert "cannot read" in json.loads((out / "cases" / "broken.json").read_text())["error"]
    cases = {c.name: c for c in read_cases(data / "cases.csv")}
    for name in ("case0", "case1", "case3"):
        alone = run_case(cases[name], str(model), str(card), METHODS, options=OPTIONS)
        assert alone["error"] is None
        stored = json.loads((out / "cases" / f"{name}.json").read_text())
        for mine, theirs in zip(
            sorted(alone["table"], key=lambda r: r["method"]), sorted(stored["table"], key=lambda r: r["method"])
        ):
            for key in (
                "deletion_auc",
                "insertion_auc",
                "random_deletion_auc",
                "random_insertion_auc",
                "energy_fraction",
                "faithfulness_score",
            ):
                assert theirs[key] == pytest.approx(mine[key], abs=1e-6), (name, key)
            assert theirs["pointing_hit"] == mine["pointing_hit"]
            assert theirs["sanity_flagged"] == mine["sanity_flagged"]
    assert json.loads((out / "cases" / "case0.json").read_text())["target_index"] == 1
    summary = _read(out / "summary.csv")
    assert [r["method"] for r in summary] and {r["method"] for r in summary} == set(METHODS)
    for row in summary:
        assert row["cases"] == "4" and row["failed"] == "1"
        for key in ("pointing_game", "energy_fraction", "deletion_auc", "insertion_auc"):
            assert key in row and f"{key}_ci_low" in row and f"{key}_ci_high" in row
        assert float(row["insertion_auc_ci_low"]) <= float(row["insertion_auc"]) <= float(row["insertion_auc_ci_high"])
        assert row["rank"] in ("1", "2")
    assert (data / "broken.nrrd").read_text() == "this is not an image"  # inputs untouched


def test_read_cases_from_a_folder_and_bad_inputs(tmp_path):
    image, mask = phantoms.make_phantom(size=(8, 8, 8), spacing=(2.0, 2.0, 2.0), lesion_radius_mm=3.0)
    sitk.WriteImage(image, str(tmp_path / "a.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "a_region.nrrd"))
    sitk.WriteImage(image, str(tmp_path / "b.nii.gz"))
    cases = read_cases(tmp_path)
    assert [(c.name, c.region is not None) for c in cases] == [("a", True), ("b", False)]
    (tmp_path / "bad.csv").write_text("path\nx.nrrd\n")
    with pytest.raises(SaliencyError, match="no 'image' column"):
        read_cases(tmp_path / "bad.csv")
    with pytest.raises(SaliencyError, match="does not exist"):
        read_cases(tmp_path / "missing.csv")
    with pytest.raises(SaliencyError, match="not both"):
        run_cohort([Case("a", str(tmp_path / "a.nrrd"))], tmp_path / "m.pt", workers=2, scheduler="tcp://x:1")
    with pytest.raises(SaliencyError, match="model file"):
        run_cohort([Case("a", str(tmp_path / "a.nrrd"))], tmp_path / "m.pt", output_dir=tmp_path / "o")
    record = run_case(Case("a", str(tmp_path / "a.nrrd")), str(tmp_path / "m.pt"))
    assert record["error"] and np.isfinite(record["seconds"])


def test_a_rerun_reuses_only_results_of_the_same_question_and_leaves_no_dask_scratch(tmp_path, monkeypatch):
    import tempfile

    private = tmp_path / "temp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    data = tmp_path / "data"
    data.mkdir()
    model, card = tiny_lesion_model(data)
    _write_csv(data / "cases.csv", tiny_cases(data, n=2))
    out = tmp_path / "out"
    first = run_cohort(data / "cases.csv", model, card, ["gradcam"], out, workers=1, **OPTIONS)
    assert first.skipped == [] and [r["method"] for r in first.summary] == ["gradcam"]
    second = run_cohort(data / "cases.csv", model, card, ["gradcam", "hirescam"], out, workers=1, **OPTIONS)
    assert second.skipped == []  # other methods: computed again, not reused
    assert {r["method"]: r["cases"] for r in second.summary} == {"gradcam": 2, "hirescam": 2}
    stored = json.loads((out / "cases" / "case1.json").read_text())
    stored["table"][0]["faithfulness_score"] = 1e308  # tampered
    (out / "cases" / "case1.json").write_text(json.dumps(stored))
    third = run_cohort(data / "cases.csv", model, card, ["gradcam", "hirescam"], out, workers=1, **OPTIONS)
    assert third.skipped == ["case0"]
    assert all(abs(r["faithfulness_score"]) <= 2 for r in third.rows)
    fourth = run_cohort(data / "cases.csv", model, card, ["gradcam"], out, workers=1, **OPTIONS)
    assert fourth.skipped == [] and {r["method"] for r in _read(out / "summary.csv")} == {"gradcam"}
    assert list(private.iterdir()) == []  # dask's scratch space went with the run


def test_a_model_that_cannot_load_fails_once_before_any_case(tmp_path):
    """A card whose architecture needs the code opt-in: one error, no table, no case run (was: exit 0 and a
    table whose every row is that error)."""
    data = tmp_path / "data"
    data.mkdir()
    model, card = tiny_lesion_model(data)
    spec = json.loads(card.read_text())
    spec["architecture"]["class"] = "collections.OrderedDict"  # not an allow-listed model library
    card.write_text(json.dumps(spec))
    _write_csv(data / "cases.csv", tiny_cases(data, n=2))
    out = tmp_path / "out"
    with pytest.raises(SaliencyError, match="trust") as caught:
        run_cohort(data / "cases.csv", model, card, METHODS, out, workers=1, **OPTIONS)
    assert "\n" not in str(caught.value)
    assert not (out / "cases").exists() and not list(out.glob("*.csv")) if out.exists() else True
