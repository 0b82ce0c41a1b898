"""The web page: the Slicer panel's fields in a drawer beside trame-slicer's slice and 3D views.

Why separate from ``app``: this is only layout (Vuetify widgets bound to state names and to the handlers
``app`` registers), so the panel's order and names can be read in one place. Element ``id``s are what the
browser tests click. Imports trame; loaded only by ``app``.
"""

from __future__ import annotations

from trame.widgets import client, html
from trame.widgets import vuetify3 as v
from trame_vuetify.ui.vuetify3 import SinglePageWithDrawerLayout

from ..mrml.color_tables import table_rgb

DENSE = dict(density="compact", hide_details=True, variant="outlined")


def legend_gradient(name: str = "Inferno") -> str:
    """CSS gradient of the heatmap's colour table (the page's colour legend, 0 at the left, 1 at the right)."""
    stops = table_rgb(name, 9)
    return (
        "linear-gradient(to right, "
        + ", ".join(
            f"rgb({int(r * 255)},{int(g * 255)},{int(b * 255)}) {100 * i / 8:.0f}%" for i, (r, g, b) in enumerate(stops)
        )
        + ")"
    )


def build(server, layout_manager, handlers) -> SinglePageWithDrawerLayout:
    """The page; ``handlers`` maps names (open_volume, apply, ...) to the server's callables."""
    ctrl = server.controller
    with SinglePageWithDrawerLayout(server, full_height=True) as layout:
        layout.title.set_text("Saliency Explorer")
        layout.root.theme = "dark"
        client.ClientTriggers(mounted=(handlers["open_link"], "[utils.get('location.search')]"))
        with layout.toolbar:
            v.VSpacer()
            _legend()
            html.Div("{{ status }}", id="status", classes="text-caption mx-4")
        with layout.drawer as drawer:
            drawer.width = 400
            with html.Div(classes="pa-2 d-flex flex-column ga-2", style="overflow-y: auto;"):
                _inputs(handlers)
                _run(handlers)
                _display()
                _comparison()
        with layout.content:
            with html.Div(style="position: relative; height: 100%;"):
                layout_manager.initialize_layout_grid(layout)
        _trust_dialog(handlers)
    ctrl.page_built = True
    return layout


def _inputs(h) -> None:
    v.VAlert(
        v_if="message",
        text=("message",),
        type=("message_type",),
        id="message",
        density="compact",
        closable=True,
        click_close="message = ''",
    )
    html.Div("Input volume", classes="text-subtitle-2")
    with html.Div(classes="d-flex ga-1"):
        v.VCombobox(
            v_model=("volume_path", ""),
            items=("volumes", []),
            label="volume (relative to the root)",
            id="volume-path",
            **DENSE,
        )
        v.VBtn("Open", id="open-volume", click=(h["open_volume"], "[volume_path]"), size="small", color="primary")
    v.VFileInput(
        label="upload a volume into the root",
        id="upload",
        **DENSE,
        update_modelValue=(h["upload"], "[$event]"),
        multiple=False,
    )
    html.Div("Model", classes="text-subtitle-2")
    with html.Div(classes="d-flex ga-1"):
        v.VCombobox(
            v_model=("model_path", ""), items=("models", []), label="model file or folder", id="model-path", **DENSE
        )
        v.VBtn(
            "Open", id="open-model", click=(h["open_model"], "[model_path, card_path]"), size="small", color="primary"
        )
    v.VCombobox(
        v_model=("card_path", ""),
        items=("cards", []),
        label="model card (empty: beside the model / derived)",
        id="card-path",
        clearable=True,
        **DENSE,
    )
    with v.VExpansionPanels(v_show="card_text"):
        with v.VExpansionPanel(title="Model card (read-only)"):
            with v.VExpansionPanelText():
                html.Pre("{{ card_text }}", id="card-text", style="font-size: 11px; max-height: 240px; overflow: auto;")
    html.Div("{{ model_summary }}", id="model-summary", classes="text-caption")
    v.VSelect(
        v_model=("layer", None),
        items=("layers", []),
        item_title="title",
        item_value="value",
        label="Target layer",
        id="layer",
        **DENSE,
    )
    html.Div("{{ layer_reason }}", id="layer-reason", classes="text-caption")
    v.VSelect(v_model=("method", "gradcam"), items=("methods", []), label="Method", id="method", **DENSE)
    v.VSelect(v_model=("target", ""), items=("targets", []), label="Target class", id="target", **DENSE)
    html.Div("Region (segmentation models)", classes="text-subtitle-2", v_show="task === 'segmentation'")
    with html.Div(v_show="task === 'segmentation'", classes="d-flex flex-column ga-1"):
        v.VCheckbox(
            v_model=("pick_region", False),
            label="a click on a slice view picks the region",
            id="pick-region",
            **{k: val for k, val in DENSE.items() if k != "variant"},
        )
        html.Div("{{ region_text }}", id="region-text", classes="text-caption")
        v.VCombobox(
            v_model=("region_path", ""),
            items=("volumes", []),
            label="or a region volume (label map)",
            id="region-path",
            clearable=True,
            update_modelValue=(h["open_region"], "[$event]"),
            **DENSE,
        )
    v.VCheckbox(
        v_model=("trust_code", False),
        label="Trust code (allow a model that runs code when loaded)",
        id="trust-code",
        update_modelValue=(h["trust_toggled"], "[$event]"),
        density="compact",
        hide_details=True,
    )


def _run(h) -> None:
    with html.Div(classes="d-flex ga-1"):
        v.VBtn(
            "{{ running ? 'Cancel' : 'Apply' }}",
            id="apply",
            click=h["apply"],
            color="primary",
            disabled=("!can_apply && !running",),
        )
        v.VBtn("Compare methods", id="compare", click=h["compare"], disabled=("!can_apply || running",))
        v.VBtn("Save", id="save", click=h["save"], disabled=("!has_result || running",))
    v.VProgressLinear(v_show="running", model_value=("progress", 0), height=6, color="primary", id="progress")
    html.Div("{{ run_status }}", id="run-status", classes="text-body-2")
    with html.Div(v_show="saved.length", id="saved", classes="text-caption"):
        html.Div("Saved under the root:")
        html.Div("{{ f }}", v_for="f in saved", key="f")


def _display() -> None:
    with html.Div(v_show="has_result", id="display", classes="d-flex flex-column ga-1"):
        html.Div("Heatmap display", classes="text-subtitle-2")
        v.VSlider(
            v_model=("threshold", 0.2),
            min=0,
            max=1,
            step=0.05,
            label="Threshold",
            thumb_label=True,
            id="threshold",
            hide_details=True,
            density="compact",
        )
        v.VSlider(
            v_model=("opacity", 0.5),
            min=0,
            max=1,
            step=0.05,
            label="Opacity",
            thumb_label=True,
            id="opacity",
            hide_details=True,
            density="compact",
        )
        html.Div("{{ prediction_text }}", id="prediction-text", classes="text-caption")


def _legend() -> None:
    """The heatmap's colour legend, beside the views while a heatmap is shown."""
    with html.Div(v_show="has_result", classes="d-flex align-center ga-2 text-caption mx-4"):
        html.Span("saliency 0")
        html.Div(
            id="legend", style=f"width: 220px; height: 14px; border: 1px solid #888; background: {legend_gradient()};"
        )
        html.Span("1")
        html.Span("(below the threshold: transparent)", classes="text-medium-emphasis")


def _comparison() -> None:
    with html.Div(v_show="comparison.length", id="comparison", classes="d-flex flex-column ga-1"):
        html.Div("Methods compared (ranked by faithfulness)", classes="text-subtitle-2")
        with v.VTable(density="compact", id="comparison-table"):
            with html.Thead():
                with html.Tr():
                    for title in ("#", "method", "score", "deletion", "insertion", "sanity"):
                        html.Th(title)
            with html.Tbody():
                with html.Tr(v_for="row in comparison", key="row.method"):
                    for key in ("rank", "method", "score", "deletion", "insertion", "sanity"):
                        html.Td(f"{{{{ row.{key} }}}}")
        html.Img(src=("comparison_png", ""), id="comparison-curves", style="width: 100%;", v_show="comparison_png")


def _trust_dialog(h) -> None:
    with v.VDialog(v_model=("trust_dialog", False), max_width=520):
        with v.VCard(title="Allow code to run?", id="trust-dialog"):
            v.VCardText("{{ trust_warning }}")
            with v.VCardActions():
                v.VSpacer()
                v.VBtn("Cancel", id="trust-cancel", click=(h["trust_answer"], "[false]"))
                v.VBtn("OK", id="trust-ok", click=(h["trust_answer"], "[true]"), color="warning")
