"""A cohort's cases (workflow/cohort_cases.py): ids are unique file names, compared without case (as on macOS and
Windows), whether the cases come as Case objects or from a CSV."""

from SaliencyExplorerLib.workflow.cohort_cases import Case, _unique, read_cases


def test_case_ids_are_unique_files(tmp_path):
    names = [c.name for c in _unique([Case("x", "1"), Case("x_2", "2"), Case("x", "3"), Case("X", "4")])]
    assert names == ["x", "x_2", "x_3", "X_4"]
    (tmp_path / "cases.csv").write_text("case,image\nx,a.nrrd\nx_2,b.nrrd\nx,c.nrrd\n")
    assert [c.name for c in read_cases(tmp_path / "cases.csv")] == ["x", "x_2", "x_3"]
