"""The worker process: one explanation run outside the GUI, with progress lines and cancel-by-kill.

Why: VTK and most Python hold the GIL, so a thread cannot keep Slicer's GUI alive during a long run.
As SlicerNNUnet and MONAIAuto3DSeg do, the GUI writes a *job folder* (the volume as NRRD, ``job.json``)
and starts Slicer's own Python (``PythonSlicer``) on ``python -m SaliencyExplorerLib worker job.json``.
The worker prints one protocol line per event on stdout and writes ``heatmap.nrrd`` + ``result.json``;
the GUI polls :class:`WorkerProcess` from a timer. Cancel kills the process (group): nothing has been
written to the scene yet, so the scene stays exactly as before. No ``qt`` here, so it is tested headless.

Protocol lines (anything else is log text)::

    SALIENCY-PROGRESS <done> <total>
    SALIENCY-STATUS <text>
    SALIENCY-WARNING <text>        (one per warning about the map, e.g. an empty prediction)
    SALIENCY-DONE <path of result.json>
    SALIENCY-ERROR <message>

Lines are UTF-8 bytes whatever the console's encoding (a job path may hold any character) and a
multi-line message is joined into one line, so nothing is lost. The job folder is removed on every
ending (done, error, cancel, crash) by :meth:`WorkerProcess.cleanup`, which ``cancel`` also calls.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import SimpleITK as sitk

from ..card import ModelCard, card_to_dict
from ..core.options import DEFAULT_METHOD
from ..errors import SaliencyError
from .compare_image import compare_image, load_comparison, save_comparison
from .explain_and_evaluate import _torch_errors, explain_and_evaluate, trusted
from .provenance import provenance

PREFIX = "SALIENCY-"
PREDICTION_FILE = "prediction.nrrd"
LIB_PARENT = str(Path(__file__).resolve().parents[2])  # the folder that holds SaliencyExplorerLib/


def write_job(
    folder,
    image: sitk.Image,
    model,
    card=None,
    method=DEFAULT_METHOD,
    layers=None,
    target=None,
    options=None,
    region_mask: sitk.Image | None = None,
    *,
    evaluate=None,
    region: sitk.Image | None = None,
    region_label: int | None = None,
    compare=None,
) -> Path:
    """Write a job folder (volume, optional masks, ``job.json``); returns the job file's path.

    ``evaluate``: None (no evaluation), True or a JSON-ready dict of checks for ``evaluate_volume``;
    ``region``: the evaluation's (or comparison's) localisation region, a label image on any grid.
    ``compare``: None (explain ``method``), True (compare the default set of methods) or a list of method
    names: the job ranks them (``workflow.compare_image``) instead, with ``evaluate`` as its checks.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not isinstance(model, (str, os.PathLike)):
        raise SaliencyError(
            "a background run needs the model as a file path: save the model first, or run "
            "in-process with explain_volume_node()"
        )
    sitk.WriteImage(image, str(folder / "volume.nrrd"), True)
    if isinstance(card, ModelCard):  # an in-memory card crosses over as JSON, like a dict
        card = card_to_dict(card)
    job = {
        "volume": "volume.nrrd",
        "model": str(model),
        "card": card if card is None or isinstance(card, dict) else str(card),
        "method": method,
        "layers": layers,
        "target": target,
        "options": dict(options or {}),
        "heatmap": "heatmap.nrrd",
        "result": "result.json",
    }
    if region_mask is not None:
        sitk.WriteImage(region_mask, str(folder / "mask.nrrd"), True)
        job["region_mask"] = "mask.nrrd"
    if compare is not None and compare is not False:
        job["kind"], job["methods"] = "compare", None if compare is True else list(compare)
        job["evaluate"] = dict(evaluate) if isinstance(evaluate, dict) else {}  # the comparison's checks
    elif evaluate is not None and evaluate is not False:  # {}: evaluate with the defaults
        job["evaluate"] = True if evaluate is True else dict(evaluate)
    if "evaluate" in job:
        if region is not None:
            sitk.WriteImage(region, str(folder / "region.nrrd"), True)
            job["region"], job["region_label"] = "region.nrrd", region_label
    path = folder / "job.json"
    path.write_text(json.dumps(job, indent=1))
    return path


def one_line(text) -> str:
    """All lines of ``text`` joined into one (a protocol line must not break)."""
    return " | ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _say(kind: str, text: str, out) -> None:
    line = f"{PREFIX}{kind} {one_line(text)}\n"
    buffer = getattr(out, "buffer", None)
    if buffer is not None:  # a real console: UTF-8 bytes, whatever its encoding (PYTHONIOENCODING=ascii)
        out.flush()
        buffer.write(line.encode("utf-8"))
        buffer.flush()
    else:
        out.write(line)
        out.flush()


class _Progress:
    """Progress lines; when the count starts again (the evaluation after the map), says so in the status."""

    def __init__(self, out):
        self.out, self.last = out, None

    def __call__(self, done, total, what=None):
        if what is not None:  # a comparison names the method it is on
            _say("STATUS", f"{what} done ({done} of {total} methods)", self.out)
        elif self.last is not None and (total != self.last[1] or done < self.last[0]):
            _say("STATUS", "evaluating the map", self.out)
        self.last = (done, total)
        _say("PROGRESS", f"{done} {total}", self.out)

    def status(self, text):
        _say("STATUS", text, self.out)


def run_job(job_path, out=None, trust_code=False) -> int:
    """Run a job (inside the worker process); returns the exit status (0 done, 2 user error, 1 bug)."""
    out = out or sys.stdout
    try:
        job_path = Path(job_path)
        folder = job_path.parent
        job = json.loads(job_path.read_text())
        _say("STATUS", "loading volume and model", out)
        image = sitk.ReadImage(str(folder / job["volume"]))
        options = dict(job.get("options") or {})
        trust = bool(trust_code or trusted(options))
        options.pop("trust_pickle", None)
        options["trust_code"] = trust
        if job.get("region_mask"):
            options["region_mask"] = sitk.ReadImage(str(folder / job["region_mask"]))

        region = sitk.ReadImage(str(folder / job["region"])) if job.get("region") else None
        if job.get("kind") == "compare":
            return _run_comparison(job, folder, image, region, options, out)

        result, report = explain_and_evaluate(
            image,
            job["model"],
            job.get("card"),
            job["method"],
            job.get("layers"),
            job.get("target"),
            evaluate=job.get("evaluate"),
            region=region,
            region_label=job.get("region_label"),
            progress=_Progress(out),
            **options,
        )
        for warning in getattr(result, "warnings", None) or []:
            _say("WARNING", warning, out)
        _say("STATUS", "writing heatmap", out)
        sitk.WriteImage(result.heatmap_image, str(folder / job["heatmap"]), True)
        record = {
            "heatmap": job["heatmap"],
            "provenance": provenance(result, job["model"], job.get("card"), job["method"], trust),
        }
        if getattr(result, "prediction_image", None) is not None:  # the model's own label map, same grid
            sitk.WriteImage(result.prediction_image, str(folder / PREDICTION_FILE), True)
            record["prediction"] = {
                "image": PREDICTION_FILE,
                "labels": {str(k): v for k, v in result.prediction_labels().items()},
            }
        if report is not None:
            record["evaluation"] = report
        (folder / job["result"]).write_text(json.dumps(record))
        _say("DONE", str(folder / job["result"]), out)
        return 0
    except SaliencyError as exc:
        _say("ERROR", str(exc), out)
        return 2
    except Exception as exc:  # a bug: say so, with the traceback on stderr for the log
        traceback.print_exc()
        _say("ERROR", f"the worker failed unexpectedly ({type(exc).__name__}: {exc}); see the log", out)
        return 1


def _run_comparison(job, folder, image, region, options, out) -> int:
    """A compare job: every method's map ranked, written as ``heatmaps/*.nrrd`` + the record in result.json."""
    _say("STATUS", "comparing methods", out)
    with _torch_errors():
        result = compare_image(
            image,
            job["model"],
            job.get("card"),
            job.get("methods"),
            job.get("target"),
            region=region,
            region_label=job.get("region_label"),
            region_mask=options.get("region_mask"),
            layers=job.get("layers"),
            device=options.get("device"),
            trust_code=options["trust_code"],
            progress=_Progress(out),
            **dict(job.get("evaluate") or {}),
        )
    _say("STATUS", "writing heatmaps", out)
    record = {"comparison": save_comparison(result, folder)}
    (folder / job["result"]).write_text(json.dumps(record))
    _say("DONE", str(folder / job["result"]), out)
    return 0


def parse_line(line: str):
    """A protocol line -> ``("progress", (done, total))``, ``("status"|"warning"|"done"|"error", text)``, or
    ``("log", line)``."""
    line = line.rstrip("\r\n")
    if not line.startswith(PREFIX):
        return "log", line
    kind, _, text = line[len(PREFIX) :].partition(" ")
    kind = kind.lower()
    if kind == "progress":
        done, total = (int(v) for v in text.split())
        return "progress", (done, total)
    if kind in ("status", "warning", "done", "error"):
        return kind, text
    return "log", line


def worker_command(job_path, python=None) -> list[str]:
    """The command line that runs a job: Slicer's ``PythonSlicer`` in the application, else this Python."""
    return [python or sys.executable, "-m", "SaliencyExplorerLib", "worker", str(job_path)]


class WorkerProcess:
    """A started worker: ``poll()`` drains its events without blocking; ``cancel()`` kills it."""

    def __init__(self, job_path, python=None, env=None, owns_folder=False):
        self.job_path = Path(job_path)
        self.owns_folder = owns_folder  # remove the job folder in cleanup()
        environment = dict(os.environ if env is None else env)
        environment["PYTHONPATH"] = os.pathsep.join(p for p in (LIB_PARENT, environment.get("PYTHONPATH")) if p)
        environment.setdefault("PYTHONUNBUFFERED", "1")
        self._events: queue.Queue = queue.Queue()
        self.cancelled = False
        self.error = None
        self.result_path = None
        self.log: list[str] = []
        self.process = subprocess.Popen(
            worker_command(self.job_path, python),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=environment,
            start_new_session=(os.name != "nt"),
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if os.name == "nt" else 0,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self._events.put(parse_line(line))
        self.process.wait()
        self._events.put(("exit", self.process.returncode))

    def poll(self) -> list:
        """Events since the last call; records the result path, the error and the log as they pass."""
        events = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return events
            kind, value = event
            if kind == "done":
                self.result_path = Path(value)
            elif kind == "error":
                self.error = value
            elif kind == "log":
                self.log.append(value)
            elif kind == "exit" and value != 0 and not self.error and not self.cancelled:
                tail = " | ".join(self.log[-5:])
                self.error = f"the worker process stopped with exit status {value}: {tail}"
            events.append(event)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout=None) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        return code

    def cancel(self) -> None:
        """Kill the worker and everything it started, and remove the job folder; nothing reaches the scene."""
        self.cancelled = True
        if self.process.poll() is not None:
            self._remove_folder()
            return
        try:
            if os.name != "nt":
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                subprocess.run(["taskkill", "/F", "/T", "/PID", str(self.process.pid)], capture_output=True)
        except ProcessLookupError:
            pass
        self.process.wait()
        self._reader.join(5)
        self._remove_folder()

    def _remove_folder(self) -> None:
        if self.owns_folder:
            shutil.rmtree(self.job_path.parent, ignore_errors=True)

    def cleanup(self) -> None:
        """Stop the worker if still running and delete a job folder this run created."""
        if self.running:
            self.cancel()
        self._remove_folder()

    def result(self) -> tuple[sitk.Image, dict]:
        """(heatmap image, provenance) of a finished run, or the worker's error as a SaliencyError."""
        if self.cancelled:
            raise SaliencyError("the run was cancelled: nothing was changed in the scene")
        if self.result_path is None:
            raise SaliencyError(self.error or "the worker has not finished yet: wait for it (poll() until 'exit')")
        record = json.loads(self.result_path.read_text())
        image = sitk.ReadImage(str(self.result_path.parent / record["heatmap"]))
        return image, record["provenance"]

    def comparison(self):
        """A finished compare job's result (``compare_image.StoredComparison``), or the worker's error."""
        if self.cancelled:
            raise SaliencyError("the comparison was cancelled: nothing was changed in the scene")
        if self.result_path is None:
            raise SaliencyError(self.error or "the worker has not finished yet: wait for it (poll() until 'exit')")
        record = json.loads(self.result_path.read_text(encoding="utf-8"))
        if "comparison" not in record:
            raise SaliencyError("this run explained one method; it holds no comparison")
        return load_comparison(self.result_path.parent, record["comparison"])

    def prediction(self):
        """(label image, {label value: class name}) of a finished segmentation run, else None."""
        if self.cancelled or self.result_path is None:
            return None
        entry = json.loads(self.result_path.read_text()).get("prediction")
        if not entry:
            return None
        image = sitk.ReadImage(str(self.result_path.parent / entry["image"]))
        return image, {int(k): v for k, v in entry["labels"].items()}

    def evaluation(self) -> dict | None:
        """The evaluation report of a finished run that was asked to evaluate, else None."""
        if self.cancelled or self.result_path is None:
            return None
        return json.loads(self.result_path.read_text()).get("evaluation")
