"""The tool's nnU-Net prediction against nnU-Net's own, on one scan: shared by Testing/fidelity and
benchmarks/nnunet_fidelity.py.

Ours: the folder loaded by ``load_model`` (its derived card), ``to_model``, the card's sliding windows over
the mirrored network (``MirrorEnsemble``, the card's ``mirror_axes``), nnU-Net's export (``argmax_on_native``;
the probabilities from ``logits_to_box``).
Theirs: ``nnUNetPredictor`` with its defaults (Gaussian, step 0.5, mirroring on) on the array SimpleITKIO
reads (what ``predict_from_files`` runs per case), and ``DefaultPreprocessor.run_case`` for the input.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch


class Float64Accumulation:
    """``torch`` as nnU-Net's predictor module sees it, except that ``torch.half`` is float64."""

    half = torch.float64

    def __getattr__(self, name):
        return getattr(torch, name)


def predictor(folder, mirroring=True, float64=False):
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    p = nnUNetPredictor(
        tile_step_size=0.5,
        use_gaussian=True,
        use_mirroring=mirroring,
        device=torch.device("cpu"),
        verbose=False,
        allow_tqdm=False,
    )
    p.initialize_from_trained_model_folder(str(folder), use_folds=None)
    p.float64_accumulation = float64
    return p


def theirs(p, path):
    """(segmentation (k, j, i), probabilities (C, k, j, i)) as nnUNetPredictor exports them."""
    import nnunetv2.inference.predict_from_raw_data as module
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    data, props = SimpleITKIO().read_images([str(path)])
    module.torch = Float64Accumulation() if getattr(p, "float64_accumulation", False) else torch
    try:
        seg, probs = p.predict_single_npy_array(data, props, None, None, True)
    finally:
        module.torch = torch
    return seg, probs


def their_input(p, path):
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import (
        DefaultPreprocessor,
    )

    data, _, _ = DefaultPreprocessor(verbose=False).run_case(
        [str(path)], None, p.plans_manager, p.configuration_manager, p.dataset_json
    )
    return data


def ours(loaded, path, mirroring=True):
    """(segmentation (k, j, i), probabilities (C) in nnU-Net's box, model input tensor, box) of the tool."""
    from SaliencyExplorerLib.core.sliding_window import SlidingWindow, WindowPlan
    from SaliencyExplorerLib.models.nnunet import MirrorEnsemble
    from SaliencyExplorerLib.volumes.geometry import from_layout, to_model
    from SaliencyExplorerLib.volumes.native_labels import argmax_on_native
    from SaliencyExplorerLib.volumes.nnunet_resampling import logits_to_box

    card = loaded.card
    model_input = to_model(sitk.ReadImage(str(path)), card)
    module = MirrorEnsemble(loaded.module, card.inference.mirror_axes) if mirroring else loaded.module
    plan = WindowPlan(SlidingWindow.of(card.inference), model_input.tensor.shape[2:])
    with torch.no_grad():
        logits = plan.infer(module, model_input.tensor)
    labels = argmax_on_native(logits.numpy(), model_input, card.output.activation)  # the tool's own path
    kji = np.stack([from_layout(logits[:, c].numpy(), card) for c in range(logits.shape[1])])
    back = logits_to_box(
        kji, model_input.grid.spacing, model_input.reference, model_input.native_box, card.input.transpose
    )
    activate = {"softmax": lambda t: torch.softmax(t, 0), "sigmoid": torch.sigmoid}.get(card.output.activation)
    probs = activate(torch.from_numpy(back)).numpy() if activate else back  # nnU-Net's, on the native box
    return sitk.GetArrayFromImage(labels), probs.astype(np.float32), model_input


def previous_path(loaded, path):
    """The labels as the tool made them before issue 18: one resampling through space, no mirroring, the
    argmax on the model grid, labels back by nearest neighbour (for the benchmark's "before" column)."""
    from dataclasses import replace

    from SaliencyExplorerLib.core.sliding_window import SlidingWindow, WindowPlan
    from SaliencyExplorerLib.volumes.geometry import labels_to_native, to_model

    card = loaded.card
    card = replace(
        card, input=replace(card.input, resampling="physical"), inference=replace(card.inference, mirror_axes=())
    )
    model_input = to_model(sitk.ReadImage(str(path)), card)
    plan = WindowPlan(SlidingWindow.of(card.inference), model_input.tensor.shape[2:])
    with torch.no_grad():
        logits = plan.infer(loaded.module, model_input.tensor)
    return sitk.GetArrayFromImage(labels_to_native(logits.argmax(1).numpy(), model_input))


def dice(a, b) -> float:
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def compare(loaded, p, p64, path) -> dict:
    """Agreement figures for one scan (see the module docstring)."""
    seg, probs, model_input = ours(loaded, path)
    ref_seg, ref_probs = theirs(p, path)
    ref64_seg, ref64_probs = theirs(p64, path) if p64 is not None else (None, None)
    box = tuple(slice(b0, b1) for b0, b1 in model_input.native_box)
    ref_in = their_input(p, path)
    ours_in = model_input.tensor[0].numpy()
    row = {
        "input_shape_equal": ours_in.shape == ref_in.shape,
        "input_max_diff": float(np.abs(ours_in - ref_in).max()) if ours_in.shape == ref_in.shape else float("inf"),
        "agreement": float((seg == ref_seg).mean()),
        "lesion_dice": dice(seg, ref_seg),
        "ref_lesion_voxels": int((ref_seg > 0).sum()),
        "max_prob_diff": float(np.abs(probs - ref_probs[(slice(None), *box)]).max()),
        "seg": seg,
        "ref_seg": ref_seg,
    }
    if ref64_seg is not None:
        row.update(
            agreement64=float((seg == ref64_seg).mean()),
            lesion_dice64=dice(seg, ref64_seg),
            max_prob_diff64=float(np.abs(probs - ref64_probs[(slice(None), *box)]).max()),
            fp16_noise=float(np.abs(ref_probs - ref64_probs).max()),
            fp16_label_flips=float((ref_seg != ref64_seg).mean()),
        )
    return row
