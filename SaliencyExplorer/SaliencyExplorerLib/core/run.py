"""`ExplainRun`: everything a method may use during one explanation, and nothing more.

Methods never touch hooks, targets or devices directly: they ask the run for a forward pass, captured
layer outputs and gradients, scores of the explained target, batches with progress and cancellation.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import SaliencyError
from .batching import Progress, check_cancel, resolve_batch_size
from .hooks import LayerCapture
from .layers import layers_that_work
from .model_call import call_model
from .targets import Target, pick_output, resolve_target
from .tokens import as_feature_map

# One explanation's settings and their defaults: ExplainRun's keyword arguments, and those core/engine.py's
# explain() passes on from its own (public, documented) signature. One list, so the two cannot drift apart.
RUN_SETTINGS = {
    **dict.fromkeys(("target", "task", "mask", "output_key", "layer_output", "grid")),
    **dict.fromkeys(("batch_size", "progress", "cancel")),
    "output_activation": "auto",
    "relu": True,
    "eigen_smooth": False,
}


class ExplainRun:
    r"""Everything a method may use for one explanation: the model (eval mode), the input ``x`` (N, C, *spatial),
    the resolved target and layers, the validated options, progress and cancel.

    Methods never run the model themselves: ``capture`` (forward with layer hooks, optionally replacing a
    layer's output), ``activations_and_gradients`` and ``score`` do, so hooks are always removed and every
    pass is counted in ``passes``."""

    def __init__(self, model: nn.Module, x: torch.Tensor, *, layers=(), options=None, **settings):
        """``settings``: any of RUN_SETTINGS (the defaults there), the keyword arguments explain() passes on."""
        unknown = sorted(set(settings) - set(RUN_SETTINGS))
        if unknown:
            raise TypeError(f"ExplainRun() got unexpected keyword arguments {unknown}; it takes {list(RUN_SETTINGS)}")
        settings = {**RUN_SETTINGS, **settings}
        self.model = model
        self.x = x
        self.layers = list(layers)
        self.options = options or {}
        self.requested_target = settings["target"]
        self.task = settings["task"]
        self.mask = settings["mask"]
        self.output_key = settings["output_key"]
        self.layer_output = settings["layer_output"]
        self.grid = settings["grid"]
        self.output_activation = settings["output_activation"]
        self.relu = settings["relu"]
        self.eigen_smooth = settings["eigen_smooth"]
        self.batch_size = settings["batch_size"]
        self.progress_callback = settings["progress"]
        self.cancel = settings["cancel"]
        self.target: Target | None = None
        self.clean_output: torch.Tensor | None = None
        # rows run: "forward" whole model, "backward" back-propagated, "tail" model calls of which only the layers
        # after a CAM layer computed (the modules before it answered from the clean pass: core/tail.py)
        self.passes = {"forward": 0, "backward": 0, "tail": 0}
        self.warnings: list[str] = []
        self._max_activation_bytes = 0
        self.layer_calls: dict[str, int] = {}  # forward calls per target layer in the last capture

    # --- shapes -------------------------------------------------------------------------------------
    @property
    def spatial_shape(self) -> tuple:
        return tuple(self.x.shape[2:])

    @property
    def device(self) -> torch.device:
        return self.x.device

    # --- forward passes -----------------------------------------------------------------------------
    def _call_model(self, x: torch.Tensor) -> torch.Tensor:
        self.passes["forward"] += int(x.shape[0])
        return pick_output(call_model(self.model, x), self.output_key)

    def forward(self, x: torch.Tensor | None = None, grad: bool = False) -> torch.Tensor:
        """The model's (selected) output for `x` (default: the input), with or without autograd."""
        x = self.x if x is None else x
        with torch.set_grad_enabled(grad):
            output = self._call_model(x)
        if x is self.x and self.clean_output is None:
            self.set_clean_output(output)
        return output

    def set_clean_output(self, output: torch.Tensor) -> None:
        self.clean_output = output.detach()
        if self.target is None:
            self.target = resolve_target(
                self.requested_target,
                self.clean_output,
                len(self.spatial_shape),
                self.task,
                self.mask,
                self.output_activation,
            )
            for note in getattr(self.target, "notes", ()):
                if note not in self.warnings:
                    self.warnings.append(note)

    def ensure_target(self) -> Target:
        """Resolve the target from the clean output, running one forward pass only if none ran yet."""
        if self.target is None:
            self._profile_forward()
        return self.target

    def _profile_forward(self) -> None:
        """One no-grad forward on the clean input that also records the largest activation (memory)."""
        handles = []

        def hook(module, inputs, output):
            if isinstance(output, torch.Tensor):
                self._max_activation_bytes = max(
                    self._max_activation_bytes, output.numel() * output.element_size() // max(self.x.shape[0], 1)
                )

        try:
            for module in self.model.modules():
                if not list(module.children()):
                    handles.append(module.register_forward_hook(hook))
            with torch.no_grad():
                output = self._call_model(self.x)
            if self.clean_output is None:
                self.set_clean_output(output)
        finally:
            for handle in handles:
                handle.remove()

    def score(self, output: torch.Tensor, rows=None, probability: bool = False) -> torch.Tensor:
        """The explained target's score per row; `rows[j]` = the original sample of row j."""
        if self.target is None:
            raise RuntimeError("score() before the target is resolved")  # a method bug, not user input
        if rows is None:
            rows = torch.arange(output.shape[0], device=output.device)
        return self.target.score(output, torch.as_tensor(rows, device=output.device), probability)

    # --- layers -------------------------------------------------------------------------------------
    def capture(self, x: torch.Tensor | None = None, need_grad: bool = False, modify=None):
        """Forward pass recording the target layers' raw outputs: (output, {name: raw tensor})."""
        x = self.x if x is None else x
        reused = [name for name, _ in self.layers if self.layer_calls.get(name, 1) > 1]
        if modify is not None and reused:
            raise SaliencyError(
                f"Layer '{reused[0]}' is one module called {self.layer_calls[reused[0]]} times per forward pass; "
                f"replacing its output would change every use. Choose a layer called once (see list_layers)."
            )
        with LayerCapture(self.layers, self.layer_output, need_grad=need_grad, modify=modify) as cap:
            with torch.no_grad():
                output = self._call_model(x)
        self.layer_calls.update(cap.calls)
        missing = [name for name, _ in self.layers if name not in cap.outputs]
        if missing:
            raise SaliencyError(
                f"Layer(s) {', '.join(missing)} did not run during the forward pass, so nothing was "
                f"captured. Choose a layer the model actually uses (see list_layers)."
            )
        for name, value in cap.outputs.items():
            if value.dim() >= 3 and value.shape[0] != x.shape[0]:
                raise SaliencyError(
                    f"Layer '{name}' outputs shape {tuple(value.shape)} for {x.shape[0]} sample(s): its first axis "
                    f"is not the batch (window-partitioned attention, as in Swin transformers, puts windows x "
                    f"batch there), so its CAM would not be a map of the input. Layers that work: "
                    f"{', '.join(layers_that_work(self.model, self.x[:1], name, self.layer_output))}."
                )
        if x is self.x and self.clean_output is None:
            self.set_clean_output(output)
        return output, cap.outputs

    def feature_map(self, raw: torch.Tensor) -> torch.Tensor:
        """A captured layer output as (N, C, *grid): token outputs are rearranged onto their grid."""
        return as_feature_map(raw, self.spatial_shape, self.grid)

    def activations_and_gradients(self, need_grad: bool = True):
        """[(name, A, G)] for every target layer: A and G as (N, C, *grid); G is None without gradients."""
        output, raw = self.capture(need_grad=need_grad)
        names = [name for name, _ in self.layers]
        if not need_grad:
            return [(n, self.feature_map(raw[n]).detach(), None) for n in names]
        score = self.score(output)
        if not score.requires_grad:
            raise SaliencyError(
                "The explained score does not depend on the target layer(s) "
                f"{', '.join(names)}; choose a layer that lies on the path to the output."
            )
        grads = torch.autograd.grad(score.sum(), [raw[n] for n in names], allow_unused=True)
        self.passes["backward"] += int(output.shape[0])  # rows back-propagated, as forward counts rows
        result = []
        for name, grad in zip(names, grads):
            if grad is None:
                raise SaliencyError(f"The explained score does not depend on layer '{name}'; choose another layer.")
            result.append((name, self.feature_map(raw[name]).detach(), self.feature_map(grad)))
        return result

    # --- many passes ---------------------------------------------------------------------------------
    def per_sample_bytes(self) -> int:
        """Rough working memory of one forward pass of one sample (largest activation x 4 + input)."""
        if not self._max_activation_bytes:
            self._profile_forward()
        sample = self.x[0].numel() * self.x.element_size()
        return 4 * max(self._max_activation_bytes, sample) + 2 * sample

    def choose_batch_size(self, total: int) -> int:
        return resolve_batch_size(self.batch_size, self.per_sample_bytes(), self.device, total)

    def progress(self, total: int) -> Progress:
        return Progress(self.progress_callback, total, self.cancel)

    def check_cancel(self) -> None:
        check_cancel(self.cancel)
