"""A cohort's tables (workflow/cohort_tables.py): the summary lists only the methods asked for, in their order,
whatever other methods the case rows hold."""

from SaliencyExplorerLib.workflow.cohort_tables import case_rows, summarise
from workflow.test_cohort_records import METHODS, _record


def test_summary_lists_only_the_methods_asked_for():
    rows = case_rows(_record(), METHODS) + [{"case": "a", "method": "hirescam", "faithfulness_score": 0.9}]
    assert [r["method"] for r in summarise(rows, METHODS)] == METHODS
