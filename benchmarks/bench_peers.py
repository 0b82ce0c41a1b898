"""One runnable per (implementation, method): this project and its peers on the same model and input.

Each entry returns a zero-argument callable that computes one explanation. Peers are optional
benchmark dependencies (`pip install .[bench]`); an entry whose library is missing is skipped.
"""

from __future__ import annotations

import torch


def ours(model, x, method, layer, case):
    from SaliencyExplorerLib import explain

    options = {
        "gradcam": dict(layers=layer),
        "guided-gradcam": dict(layers=layer),
        "smoothgrad": dict(samples=25, noise=0.15, magnitude=True),
        "integrated-gradients": dict(steps=50),
        "occlusion": dict(
            window=case["window"],
            overlap=0.25,
            occluder="constant",
            value=0.0,
            roi=case.get("occlusion_roi"),
            relu=False,
        ),
        "occlusion-fast": dict(
            window=case["window"], overlap=0.25, occluder="constant", value=0.0, mode="fast", relu=False
        ),
        "rise": dict(masks=case["rise_masks"]),
    }.get(method, {})
    name = "occlusion" if method == "occlusion-fast" else method
    return lambda: explain(model, x, name, target=case["target"], **options)


def monai(model, x, method, layer, case):
    import monai.visualize as mv

    t = case["target"]
    if method == "gradcam":
        cam = mv.GradCAM(model, target_layers=layer)
        return lambda: cam(x, class_idx=t)
    if method == "saliency":
        vg = mv.VanillaGrad(model)
        return lambda: vg(x, index=t)
    if method == "smoothgrad":
        sg = mv.SmoothGrad(model, stdev_spread=0.15, n_samples=25, magnitude=True, verbose=False)
        return lambda: sg(x, index=t)
    if method == "guided-backprop":
        gb = mv.GuidedBackpropGrad(model)
        return lambda: gb(x, index=t)
    if method == "occlusion":
        occ = mv.OcclusionSensitivity(
            model, mask_size=case["window"], n_batch=case["peer_batch"], verbose=False, mode=0.0, overlap=0.25
        )
        return lambda: occ(x)
    return None


def captum(model, x, method, layer, case):
    import captum.attr as ca

    t = case["target"]
    module = dict(model.named_modules())[layer]
    if method == "gradcam":
        lgc = ca.LayerGradCam(model, module)
        return lambda: lgc.attribute(x, target=t)
    simple = {"saliency": ca.Saliency, "inputxgradient": ca.InputXGradient, "guided-backprop": ca.GuidedBackprop}
    if method in simple:
        algo = simple[method](model)
        return lambda: algo.attribute(x, target=t)
    if method == "guided-gradcam":
        ggc = ca.GuidedGradCam(model, module)
        return lambda: ggc.attribute(x, target=t)
    if method == "integrated-gradients":
        ig = ca.IntegratedGradients(model)
        return lambda: ig.attribute(x, target=t, n_steps=50, method="gausslegendre")
    if method == "smoothgrad":
        nt = ca.NoiseTunnel(ca.Saliency(model))
        spread = 0.15 * float(x.max() - x.min())
        return lambda: nt.attribute(x, target=t, nt_type="smoothgrad_sq", nt_samples=25, stdevs=spread, abs=False)
    if method == "occlusion":
        w, s = case["window"], case["stride"]
        occ = ca.Occlusion(model)
        return lambda: occ.attribute(
            x,
            target=t,
            sliding_window_shapes=(1, w, w, w),
            strides=(1, s, s, s),
            baselines=0,
            perturbations_per_eval=case["peer_batch"],
        )
    return None


def torchcam(model, x, method, layer, case):
    if method != "gradcam":
        return None
    from torchcam.methods import GradCAM

    def run():
        with GradCAM(model, target_layer=layer, input_shape=tuple(x.shape[1:])) as extractor:
            scores = model(x)
            return extractor(case["target"], scores)

    return run


def plain(model, x, method, layer, case):
    """The yardsticks: one forward, and one forward + backward to the input."""
    if method == "forward":

        def forward():
            with torch.no_grad():
                return model(x)

        return forward
    if method == "forward+backward":

        def forward_backward():
            leaf = x.clone().requires_grad_(True)
            return torch.autograd.grad(model(leaf)[:, case["target"]].sum(), leaf)

        return forward_backward
    return None


IMPLEMENTATIONS = {"torch": plain, "ours": ours, "monai": monai, "captum": captum, "torchcam": torchcam}
