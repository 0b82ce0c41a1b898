"""The method contract and registry: names and aliases users type, close names for typos, options
validated against each method's declared defaults, every method documented.

Truth: the registry's own tables, and the spellings users write ("grad-cam", "Score_CAM").
"""

import sys

import pytest
from SaliencyExplorerLib.core.method import Method, available_methods, get_method, register
from SaliencyExplorerLib.errors import SaliencyError


@pytest.mark.parametrize(
    "typed,name",
    [
        ("grad-cam", "gradcam"),
        ("Grad_CAM", "gradcam"),
        ("GRADCAM", "gradcam"),
        ("grad-cam++", "gradcam++"),
        ("gradcampp", "gradcam++"),
        ("score-cam", "scorecam"),
        ("Ablation_CAM", "ablationcam"),
        ("integrated_gradients", "integrated-gradients"),
        ("x-gradcam", "xgradcam"),
    ],
)
def test_aliases_and_spellings_resolve_to_the_method(typed, name):
    assert get_method(typed) is get_method(name) and get_method(name).name == name


def test_a_mistyped_name_suggests_the_closest_and_lists_all():
    with pytest.raises(SaliencyError, match=r"Unknown method 'gradcan'\. Did you mean gradcam") as info:
        get_method("gradcan")
    assert "Available methods: ablationcam, cam," in str(info.value)
    with pytest.raises(SaliencyError) as far:
        get_method("zzzz")
    assert "Did you mean" not in str(far.value)


def test_available_methods_split_into_three_kinds():
    every = set(available_methods())
    kinds = {kind: set(available_methods(kind)) for kind in ("cam", "gradient", "perturbation")}
    assert set().union(*kinds.values()) == every and sum(map(len, kinds.values())) == len(every)
    assert {"gradcam", "scorecam"} <= kinds["cam"] and {"saliency", "smoothgrad"} <= kinds["gradient"]
    assert kinds["perturbation"] == {"occlusion", "rise"}
    assert all(get_method(n).uses_layers for n in kinds["cam"])
    assert not any(get_method(n).uses_layers for n in kinds["perturbation"])


@pytest.mark.parametrize("name", available_methods())
def test_every_registered_method_is_documented(name):
    cls = get_method(name)
    title = cls.summary.split(":")[0]  # "Grad-CAM", "Integrated gradients", ...
    assert cls.summary and title and cls.kind in ("cam", "gradient", "perturbation")
    own = cls.__dict__.get("__doc__") or ""
    module = sys.modules[cls.__module__].__doc__ or ""
    assert own.strip() or title.lower() in module.lower(), f"{name}: no docstring of its own or in its module"


def test_options_are_the_defaults_overlaid_and_unknown_ones_are_refused():
    smoothgrad = get_method("smoothgrad")
    merged = smoothgrad.resolve_options({"samples": 3})
    assert merged == {**smoothgrad.options, "samples": 3} and smoothgrad.options["samples"] == 25
    with pytest.raises(
        SaliencyError,
        match=r"has no option\(s\) nois, sampels\. Its options are: magnitude, "
        r"noise, reduce, samples, seed",
    ):
        smoothgrad.resolve_options({"nois": 0.1, "sampels": 3})
    with pytest.raises(SaliencyError, match="Its options are: none"):
        get_method("gradcam").resolve_options({"anything": 1})


def test_register_refuses_a_name_twice_and_an_empty_name():
    class Twice(Method):
        name = "gradcam"

        def compute(self, run):
            return run.x

    with pytest.raises(RuntimeError, match="registered twice"):
        register(Twice)
    Twice.name = ""
    with pytest.raises(RuntimeError, match="empty"):
        register(Twice)
    assert get_method("gradcam") is not Twice
