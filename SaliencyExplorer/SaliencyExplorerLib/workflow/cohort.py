"""Compare methods over a cohort: one independent task per case on dask.distributed, resumable.

Cases come from a CSV (`image`, optional `region`, `target`, `case`; paths relative to the CSV) or a
folder (every image file is a case; `<stem>_region.<ext>` beside it is its region). Each case runs
``compare_image`` on a worker; a worker process loads the model once (``_cached_model``, one per
process) and every finished case is written at once to ``OUT/cases/<case>.json``, so an interrupted run
loses only the cases in flight: a re-run skips every case whose file holds a result without error that
was made from the same image, model, card, methods and options and validates (``cohort_records``); a
failed, tampered or stale case is computed again. A failing case is recorded with its error and never
stops the cohort. Case ids are made unique (``x, x_2, x`` -> ``x, x_2, x_3``): one file per case.

Outputs: ``OUT/cases.csv`` (one row per case and method), ``OUT/summary.csv`` (one row per method: means
with 95% percentile-bootstrap intervals over the cases, and the rank by mean faithfulness score).
Intervals: 2000 resamples of the cases with replacement (seed 0), the 2.5th and 97.5th percentiles of
the resampled means; empty with fewer than 2 cases. Inputs are never overwritten: no output may be, or be
inside, the cases table, an image, a region, the model or the card. Dask's scratch files go to a private
temporary folder, removed at the end.

Split by job: cohort_cases.py (reading and naming the cases), cohort_tables.py (the rows and the summary),
cohort_records.py (a stored result's key); here: running the cases on Dask and writing the outputs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import SaliencyError
from ..output_files import InputIndex, clash_message, find_clash, protecting, write_text
from ..volumes.image_files import read_image
from . import cohort_records
from .cohort_cases import IMAGE_SUFFIXES, REGION_SUFFIXES, Case, read_cases, safe_name
from .cohort_tables import CASE_COLUMNS, SUMMARY_COLUMNS, SUMMARY_METRICS, bootstrap_interval, case_rows, summarise
from .compare_image import compare_image
from .explain_and_evaluate import _torch_errors

__all__ = [  # the names this module always had, now partly from cohort_cases.py and cohort_tables.py
    "CASE_COLUMNS",
    "IMAGE_SUFFIXES",
    "REGION_SUFFIXES",
    "SUMMARY_COLUMNS",
    "SUMMARY_METRICS",
    "Case",
    "CohortResult",
    "bootstrap_interval",
    "case_file",
    "case_rows",
    "check_cohort_options",
    "finished",
    "read_cases",
    "run_case",
    "run_cohort",
    "safe_name",
    "summarise",
]


def _cached_model(model: str, card: str | None, device: str | None, trust_code: bool):
    """The model loaded once per process (each dask worker process keeps its own)."""
    from ..models.loading import load_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    return load_model(model, card, trust_code=trust_code, device=device)


def run_case(
    case: Case,
    model: str,
    card: str | None = None,
    methods=None,
    *,
    device=None,
    trust_code: bool = False,
    threads: int | None = None,
    options: dict | None = None,
) -> dict:
    """One case, as a JSON-ready record; any error is caught and recorded (``error``), never raised."""
    started = time.perf_counter()
    record = {
        "case": case.name,
        "image": case.image,
        "region": case.region,
        "target": case.target,
        "error": None,
        "table": [],
    }
    try:
        if threads:
            import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

            torch.set_num_threads(int(threads))

        with _torch_errors():
            loaded = _cached_model(str(model), None if card is None else str(card), device, bool(trust_code))
            image = read_image(case.image, f"image of case {case.name}")
            region = read_image(case.region, f"region of case {case.name}") if case.region else None
            result = compare_image(
                image, loaded.module, loaded.card, methods, case.target, region=region, **(options or {})
            )
        out = result.to_dict(curves=False)
        record.update(
            {
                "table": out["table"],
                "ranking": out["ranking"],
                "target_index": result.target_index,
                "target_name": result.target_name,
                "sanity": out["sanity"],
                "settings": out["settings"],
            }
        )
    except Exception as exc:  # noqa: BLE001 - a damaged case is recorded, the cohort goes on
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        record["error"] = f"{type(exc).__name__}: {text}" if not isinstance(exc, SaliencyError) else text
    record["seconds"] = time.perf_counter() - started
    return record


def case_file(output_dir, case: Case) -> Path:
    return Path(output_dir) / "cases" / f"{case.name}.json"


def finished(output_dir, case: Case, key: str, methods) -> dict | None:
    """The stored record of a case that finished without error from the same inputs (``key``) with exactly
    ``methods`` and validates (see ``cohort_records``), else None (to be run)."""
    record = cohort_records.read_record(case_file(output_dir, case))
    return record if cohort_records.problem(record, case.name, key, methods) is None else None


def _write_json(path: Path, data) -> None:
    from ..evaluation.report import json_safe  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    write_text(path, json.dumps(json_safe(data), indent=2) + "\n")


@dataclass
class CohortResult:
    records: list
    rows: list
    summary: list
    skipped: list
    seconds: float
    workers: int | None
    output_dir: Path


def _check_output_dir(output_dir: Path, cases: list[Case], protected) -> None:
    """Every file the cohort writes, checked against every file the inputs consist of, before anything runs."""
    index = InputIndex([p for c in cases for p in (c.image, c.region) if p] + [p for p in protected if p])
    clash = find_clash(output_dir, index=index)
    if clash is not None:
        raise SaliencyError(clash_message("--output-dir", output_dir, clash))
    targets = [output_dir / n for n in ("cases.csv", "summary.csv", "summary.png", "cases")]
    for target in targets + [case_file(output_dir, case) for case in cases]:
        clash = find_clash(target, index=index)
        if clash is not None:
            raise SaliencyError(clash_message("the cohort output", target, clash))


# A dask scheduler address: tcp://host:8786, tls://..., or host:port.
_SCHEDULER = re.compile(r"^((tcp|tls|ucx|ws|wss|inproc)://)?[A-Za-z0-9_.\-\[\]:]+(:[0-9]{1,5})?/?$")


def check_cohort_options(workers, scheduler) -> None:
    """--workers and --scheduler, before anything is made: one line each."""
    if workers is not None and scheduler:
        raise SaliencyError("give --workers or --scheduler, not both (a scheduler brings its own workers).")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024):
        raise SaliencyError(f"--workers must be an integer from 1 to 1024, not {workers!r}.")
    if scheduler and (not isinstance(scheduler, str) or not _SCHEDULER.match(scheduler.strip())):
        raise SaliencyError(
            f"--scheduler {scheduler!r} is not a dask scheduler address; give one like tcp://host:8786."
        )


def _client(workers, scheduler, scratch):
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SaliencyError(
            "Cohorts run on dask.distributed: `bash scripts/setup_env.sh figures,cohort` in a "
            "checkout (scripts/demo.sh does it), else pip install 'SaliencyExplorer[cohort]'."
        ) from None
    if scheduler:
        try:
            return Client(scheduler.strip(), timeout="20s"), None
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise SaliencyError(
                f"cannot reach the dask scheduler {scheduler} ({str(exc).splitlines()[0] if str(exc) else exc}); "
                "check the address (tcp://host:8786) and that the scheduler runs."
            ) from None

    with dask.config.set({"temporary-directory": scratch}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            local_directory=scratch,
        )
    return Client(cluster), cluster


def run_cohort(
    cases,
    model,
    card=None,
    methods=None,
    output_dir="compare-cohort",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    device=None,
    trust_code: bool = False,
    progress=None,
    **options,
) -> CohortResult:
    """Run ``compare`` on every case (a list of Case, a CSV or a folder) on dask; see the module docstring.

    ``workers``: local worker processes (default: one per core); ``scheduler``: the address of a running
    dask scheduler instead (its workers must see the files). ``options`` go to ``compare_image`` (steps,
    random_repeats, sanity_layers, method_options, ...). ``progress(done, total)`` after each case.
    """
    source = None
    if not isinstance(cases, (list, tuple)):
        source = cases
        cases = read_cases(cases)
    inputs = [p for c in cases for p in (c.image, c.region) if p] + [p for p in (source, model, card) if p]
    with protecting(inputs):  # every write below is refused when it would touch a file of an input
        return _run_cohort(
            list(cases),
            model,
            card,
            methods,
            Path(output_dir),
            [source, model, card],
            workers=workers,
            scheduler=scheduler,
            device=device,
            trust_code=trust_code,
            progress=progress,
            **options,
        )


def _run_cohort(
    cases, model, card, methods, output_dir, protected, *, workers, scheduler, device, trust_code, progress, **options
) -> CohortResult:
    from ..evaluation.compare import (  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
        resolve_methods,
        write_table,
    )

    started = time.perf_counter()
    check_cohort_options(workers, scheduler)
    if not Path(model).exists():
        raise SaliencyError(
            f"the model file {model} does not exist; give the model file (state dict + card, TorchScript or .pt2)."
        )
    names = resolve_methods(methods)
    _check_output_dir(output_dir, cases, protected)
    with _torch_errors():  # a model that cannot load fails here, once, not as every case's row
        from ..models.loading import load_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

        load_model(str(model), None if card is None else str(card), trust_code=bool(trust_code), device="cpu")
    (output_dir / "cases").mkdir(parents=True, exist_ok=True)
    model, card = str(Path(model).resolve()), None if card is None else str(Path(card).resolve())
    shared = cohort_records.run_key(model, card, names, options)
    keys = {case.name: cohort_records.case_key(case, shared) for case in cases}

    records, skipped, todo = {}, [], []
    for case in cases:
        done = finished(output_dir, case, keys[case.name], names)
        if done is not None:
            records[case.name] = done
            skipped.append(case.name)
        else:
            todo.append(case)
    total, count = len(cases), len(skipped)
    if progress is not None:
        progress(count, total)
    used = None
    if todo:
        workers_n = workers or (None if scheduler else max(1, os.cpu_count() or 1))
        scratch = tempfile.mkdtemp(prefix="saliency-dask-")  # dask's spill and lock files: removed below
        try:
            client, cluster = _client(workers_n, scheduler, scratch)
            try:
                used = len(client.scheduler_info().get("workers", {})) or workers_n
                threads = max(1, (os.cpu_count() or 1) // max(1, used)) if not scheduler else None
                kwargs = dict(
                    model=model,
                    card=card,
                    methods=names,
                    device=device,
                    trust_code=trust_code,
                    threads=threads,
                    options=options,
                )
                from dask.distributed import as_completed

                futures = {
                    client.submit(
                        run_case, case, pure=False, key=f"compare-{case.name}-{time.time_ns()}", **kwargs
                    ): case
                    for case in todo
                }
                for future in as_completed(futures):
                    case = futures[future]
                    try:
                        record = future.result()
                    except Exception as exc:  # noqa: BLE001 - a worker that died: the case is recorded as failed
                        record = {
                            "case": case.name,
                            "image": case.image,
                            "region": case.region,
                            "target": case.target,
                            "error": f"{type(exc).__name__}: {exc}",
                            "table": [],
                            "seconds": None,
                        }
                    record["key"] = keys[case.name]
                    _write_json(case_file(output_dir, case), record)
                    records[case.name] = record
                    count += 1
                    if progress is not None:
                        progress(count, total)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    ordered = [records[c.name] for c in cases]
    rows = [row for record in ordered for row in case_rows(record, names)]
    summary = summarise(rows, names)
    write_table(output_dir / "cases.csv", rows, CASE_COLUMNS)
    write_table(output_dir / "summary.csv", summary, SUMMARY_COLUMNS)
    return CohortResult(ordered, rows, summary, skipped, time.perf_counter() - started, used, output_dir)
