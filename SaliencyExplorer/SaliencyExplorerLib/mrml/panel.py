"""Every decision the Slicer panel makes, without Qt: what it lists, when Apply is possible, progress text.

Why: Slicer's GUI cannot run in the test environment, so the module's widget is a thin shell that shows
what these functions return. Everything that can be wrong (option parsing, layer and class lists, the
Apply precondition, the worker's progress and its end) is decided here and tested headless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..card import load_card
from ..core.options import parse_method_options  # noqa: F401  (the panel's options field)
from ..core.resources import available_devices as devices_here
from ..errors import SaliencyError

TOP_CLASS = "top class"
DEVICES = ["auto", "cpu", "cuda", "mps"]


def path_or_none(value) -> str | None:
    """A path field's value, or None when empty (a bound ctkPathLineEdit gives ``Path('.')`` when empty)."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text in ("", ".") else text


def layer_entries(layers, preferred=None) -> tuple[list[tuple[str, str]], int]:
    """Combo-box entries ``(label, name)`` for CAM-capable layers and the index of the default layer.

    ``layers``: ``list_layers`` output (objects with name, type, output_shape, cam_capable, is_default).
    ``preferred``: the card's ``target_layer`` (a name or names); it is the default when present, because
    that is the layer the pipeline uses when none is picked.
    """
    usable = [info for info in layers if getattr(info, "cam_capable", True)]
    names = [info.name for info in usable]
    if isinstance(preferred, (list, tuple)):
        preferred = preferred[0] if preferred else None
    if preferred in names:
        default = names.index(preferred)
    else:
        default = next((i for i, info in enumerate(usable) if info.is_default), 0)
    entries = [
        (
            f"{info.name}  ({info.type}, {tuple(info.output_shape) if info.output_shape else '?'})"
            + ("  [default]" if i == default else ""),
            info.name,
        )
        for i, info in enumerate(usable)
    ]
    return entries, default


def target_entries(card=None) -> list[tuple[str, object]]:
    """Target-class entries: "top class" first, then the card's class names (index: name)."""
    entries = [(TOP_CLASS, None)]
    names = list(getattr(card, "classes", None) or [])
    entries += [(f"{i}: {name}", i) for i, name in enumerate(names)]
    return entries


def target_value(text: str):
    """The target for the engine from the combo's text: None for top class, else the class index."""
    text = (text or "").strip()
    if text in ("", TOP_CLASS):
        return None
    head = text.split(":", 1)[0].strip()
    try:
        return int(head)
    except ValueError as exc:
        raise SaliencyError(f"target '{text}' is not a class index: pick a class from the list or 'top class'") from exc


def can_apply(input_volume, model_path) -> tuple[bool, str]:
    """Whether Apply is enabled, and the tooltip saying why not."""
    if input_volume is None:
        return False, "Select an input volume"
    if path_or_none(model_path) is None:
        return False, "Select a model file or folder"
    if not Path(path_or_none(model_path)).exists():
        return False, f"Model not found: {model_path}"
    return True, "Compute the saliency heatmap (runs in a background process; click again to cancel)"


def available_devices() -> list[str]:
    """The device list the panel offers: 'auto' and the kinds that exist on this machine (cpu always)."""
    try:
        found = devices_here()
    except Exception:  # noqa: BLE001 - no torch yet: the CPU is all we know
        found = ["cpu"]
    return ["auto"] + [d for d in DEVICES if d != "auto" and d in found]


TRUST_CODE_WARNING = (
    "Allowing code means a pickled model, a model file the safety check refuses, or a card "
    "naming a class outside the allow-list or a file.py can run any program on this computer "
    "when loaded. Only do this for files from a source you trust."
)


def run_options(method_options: str, batch_size: int, device: str, trust_code: bool = False) -> dict:
    """Pipeline keywords from the advanced section (0 batch size and 'auto' device mean: let it decide)."""
    options = parse_method_options(method_options)
    if batch_size:
        options["batch_size"] = int(batch_size)
    if device and device != "auto":
        if device not in DEVICES:
            raise SaliencyError(f"unknown device '{device}': choose one of {', '.join(DEVICES)}")
        if device not in available_devices():
            raise SaliencyError(
                f"device '{device}' is not available on this machine: choose one of {', '.join(available_devices())}"
            )
        options["device"] = device
    if trust_code:
        options["trust_code"] = True
    return options


# The panel's evaluation: cheap enough to finish in seconds on the demo (20 deletion/insertion steps, one
# random map as the baseline, the sanity check on the 3 layers nearest the output). The console and CLI
# keep the evaluation's fuller defaults.
PANEL_EVALUATION = {"steps": 20, "random_repeats": 1, "max_layers": 3}


def evaluation_options(enabled: bool, region_node=None) -> tuple[dict | None, object]:
    """(checks for the worker or None, region node or None) from the Evaluate box and region selector.

    A region without Evaluate ticked is ignored rather than an error: the selector keeps its choice
    between runs, and localisation only means something next to the other numbers.
    """
    if not enabled:
        return None, None
    return dict(PANEL_EVALUATION), region_node or None


def evaluation_summary(report: dict) -> str:
    """One status line after an evaluated run: the areas against chance and the sanity verdict."""

    def number(key):
        value = report.get(key)
        return "n/a" if value is None else f"{value:.3f}"

    text = (
        f"Deletion AUC {number('deletion_auc')} (random {number('random_deletion_auc')}, lower is better); "
        f"insertion AUC {number('insertion_auc')} (random {number('random_insertion_auc')}, higher is better)"
    )
    sanity = report.get("sanity")
    if sanity:
        text += "; sanity: " + (
            "FLAGGED, the map barely changes when the model is randomised" if sanity.get("flagged") else "passed"
        )
    if "pointing_hit" in report:
        text += f"; peak {'inside' if report['pointing_hit'] else 'outside'} the region"
    return text


PANEL_COMPARISON = {"steps": 20, "random_repeats": 1, "sanity_layers": 3}  # cheap enough for the panel


def comparison_options(region_node=None) -> tuple[dict, object]:
    """(checks, region) for the panel's Compare methods: the panel's cheap settings, the region if any."""
    return dict(PANEL_COMPARISON), region_node or None


def comparison_summary(rows: list) -> str:
    """The status line after a comparison: the method to believe first, and the maps not to believe."""
    ranked = [r for r in rows if r.get("rank") is not None]
    if not ranked:
        return "No method could be evaluated: see the comparison table for each error."
    best = ranked[0]
    flagged = [r["method"] for r in ranked if r.get("sanity_flagged")]
    text = f"Most faithful: {best['method']} (score {best['faithfulness_score']:.2f})"
    if best.get("sanity_flagged"):
        text += "; every method was flagged by the sanity check: none explains this model reliably"
    elif flagged:
        text += f"; flagged by the sanity check (do not trust): {', '.join(flagged)}"
    failed = [r["method"] for r in rows if r.get("rank") is None]
    if failed:
        text += f"; failed: {', '.join(failed)}"
    return text + "."


@dataclass
class RunState:
    """What the panel shows while a worker runs: progress percent, status line, and the end state."""

    percent: int = 0
    status: str = "Starting..."
    state: str = "running"  # running | done | error | cancelled
    message: str = ""
    phase: str = "Computing"
    unit: str = ""  # "window" once the run says it goes window by window: "window 37 of 150"
    warnings: list = field(default_factory=list)  # what the user must read beside the map (worker WARNING lines)

    def update(self, events, cancelled: bool = False) -> "RunState":
        for kind, value in events:
            if kind == "progress":
                done, total = value
                self.percent = int(round(100 * done / total)) if total else 0
                self.status = (
                    f"{self.phase}: {self.unit} {done} of {total}" if self.unit else f"{self.phase}... {done}/{total}"
                )
            elif kind == "status":
                self.status = value[:1].upper() + value[1:]
                if value.startswith("evaluating"):
                    self.phase, self.unit = "Evaluating", ""
                elif value.startswith("sliding windows"):
                    self.unit = "window"
            elif kind == "warning":
                self.warnings.append(value)
            elif kind == "error":
                self.state, self.message, self.status = "error", value, "Failed"
            elif kind == "done" and self.state == "running":
                self.state, self.percent, self.status = "done", 100, "Done"
                if self.warnings:
                    self.status = "Done. Warning: " + " ".join(self.warnings)
            elif kind == "exit":
                if cancelled:
                    self.state, self.status = "cancelled", "Cancelled: the scene was not changed"
                elif self.state == "running":
                    self.state, self.status = "error", "Failed"
                    self.message = self.message or f"the worker process stopped with exit status {value}"
        return self


def model_choices(model_path, card_path=None) -> dict:
    """What the panel lists once a model is picked: layers (default first selected), methods, classes.

    Loads the model (torch is imported here, never earlier) and traces one forward pass on zeros of the
    card's input shape (``ModelCard.input_shape``: 64 voxels per axis the card leaves open).
    """
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    from ..core.layers import list_layers  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..core.method import available_methods  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..models.loading import load_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    loaded = load_model(model_path, card_path)
    card = load_card(loaded.card)
    shape = card.input_shape()
    with torch.no_grad():
        layers = list_layers(loaded.module, torch.zeros(shape))
    entries, default = layer_entries(layers, card.target_layer)
    reason = (
        "the layer the model card names (target_layer)"
        if entries
        and card.target_layer
        and entries[default][1] in ([card.target_layer] if isinstance(card.target_layer, str) else card.target_layer)
        else getattr(layers, "default_reason", "")
    )
    return {
        "layers": entries,
        "defaultLayer": default,
        "defaultReason": reason,
        "methods": list(available_methods()),
        "targets": target_entries(card),
        "summary": f"{getattr(card, 'name', 'model')}: {loaded.kind}, input {tuple(shape)}, {len(entries)} layers",
    }


def output_belongs_to(output_node, input_node) -> bool:
    """True if ``output_node`` is a heatmap this tool made for ``input_node`` (else the panel clears it)."""
    if output_node is None or input_node is None:
        return False
    return output_node.GetAttribute("SaliencyExplorerSourceNodeID") == input_node.GetID()
