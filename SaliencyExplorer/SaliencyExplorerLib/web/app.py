"""The trame-slicer server: one scene, the page (``page``), and handlers that call ``case.Case``.

Why here: this is the only module that touches trame's server and trame-slicer's views. The model runs
in the background worker process (``Case.start``); an asyncio task polls it so the views keep streaming
and a second click (Cancel) is served at once. Every handler turns a ``SaliencyError`` into the message
on the page, never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import sys
import time

from ..errors import SaliencyError
from ..mrml import heatmap_node, panel
from .case import Case, peak_ras
from .link import parse_link, target_choice
from .root_files import Root

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")  # no X server: render through EGL

from trame.app import get_server  # noqa: E402
from trame_slicer.core import LayoutManager, SlicerApp  # noqa: E402
from trame_slicer.rca_view import register_rca_factories  # noqa: E402

from . import page  # noqa: E402

POLL_SECONDS = 0.2
LOG = logging.getLogger(__name__)


class WebApp:
    """One server: a trame-slicer scene with three slice views and a 3D view, and the panel's steps."""

    def __init__(self, root: Root, server=None):
        self.server = server or get_server(None, client_type="vue3")
        self.state = self.server.state
        self.slicer = SlicerApp()
        heatmap_node.allow_legends(self.slicer.scene)  # so that a heatmap gets its legend node, as in Slicer
        register_rca_factories(self.slicer.view_manager, self.server)
        self.layout_manager = LayoutManager(self.slicer.scene, self.slicer.view_manager, self.server)
        self.layout_manager.register_layout_dict(LayoutManager.default_grid_configuration())
        self.layout_manager.set_layout("Quad View")
        self.case = Case(root, self.slicer.scene)
        self.root = root
        self.clicked_at = None
        self.overlay_seconds = None
        self._auto_save = False
        self._initial_state()
        page.build(
            self.server,
            self.layout_manager,
            {
                "open_volume": self.open_volume,
                "upload": self.upload,
                "open_model": self.open_model,
                "open_region": self.open_region,
                "trust_toggled": self.trust_toggled,
                "trust_answer": self.trust_answer,
                "apply": self.apply,
                "compare": self.compare,
                "save": self.save,
                "open_link": self.open_link,
            },
        )
        self.state.change("threshold", "opacity")(self.restyle)
        for view in self.slicer.view_manager.get_slice_views():
            view.interactor().AddObserver("LeftButtonPressEvent", self._slice_clicked)

    def _initial_state(self) -> None:
        s = self.state
        listing = self.root.listing()
        s.update(
            {
                "volumes": listing["volumes"],
                "models": listing["models"],
                "cards": listing["cards"],
                "message": "",
                "message_type": "error",
                "status": f"root: {self.root.path}",
                "layers": [],
                "methods": [],
                "targets": [],
                "layer_reason": "",
                "model_summary": "",
                "card_text": "",
                "task": None,
                "region_text": "",
                "running": False,
                "progress": 0,
                "run_status": "",
                "can_apply": False,
                "has_result": False,
                "saved": [],
                "comparison": [],
                "comparison_png": "",
                "prediction_text": "",
                "trust_warning": panel.TRUST_CODE_WARNING,
                "trust_dialog": False,
                "overlay_seconds": None,
            }
        )

    # -- every handler: a SaliencyError becomes the page's message ------------------------------------------
    def _guard(self, action, *args):
        try:
            self.state.message = ""
            return action(*args)
        except SaliencyError as exc:
            self._say(str(exc))
        except Exception as exc:  # a bug: say so on the page, the traceback goes to the log
            LOG.exception("web action failed")
            self._say(f"unexpected error ({type(exc).__name__}: {exc}); see the server's log")
        return None

    def _say(self, text: str, kind: str = "error") -> None:
        self.state.message, self.state.message_type = text, kind

    def _refresh_apply(self) -> None:
        ok, why = panel.can_apply(
            self.case.volume_node, None if self.case.model_path is None else str(self.case.model_path)
        )
        self.state.can_apply = ok and bool(self.state.layers)
        self.state.run_status = "" if ok else why

    # -- the panel's steps -------------------------------------------------------------------------------------
    def open_volume(self, relative=None):  # the field's value comes with the click: no race with its sync
        self._guard(self._open_volume, self.state.volume_path if relative is None else relative)

    def _open_volume(self, relative):
        node = self.case.open_volume(relative)
        dm = self.slicer.display_manager
        dm.show_volume_in_slice_background(node)
        dm.show_volume_in_slice_foreground(None)
        for view in self.slicer.view_manager.get_slice_views():
            view.set_visible_in_3d(True)
        dm.reset_views()
        self.state.update(
            {
                "has_result": False,
                "comparison": [],
                "comparison_png": "",
                "prediction_text": "",
                "region_text": "",
                "status": f"volume: {relative}",
            }
        )
        self._refresh_apply()

    def upload(self, files):
        self._guard(self._upload, files)

    def _upload(self, files):
        if not files:
            return
        item = files[0] if isinstance(files, list) else files
        content = item.get("content")
        if isinstance(content, list):
            content = b"".join(content)
        path = self.case.root.save_upload(item.get("name"), content or b"")
        relative = self.root.relative(path)
        self.state.volumes = self.root.listing()["volumes"]
        self.state.volume_path = relative
        self._open_volume(relative)

    def open_model(self, model=None, card=None):
        self._guard(
            self._open_model,
            self.state.model_path if model is None else model,
            self.state.card_path if card is None else card,
        )

    def _open_model(self, model, card):
        choices = self.case.open_model(model, card)
        layers = [{"title": label, "value": name} for label, name in choices["layers"]]
        default = choices["layers"][choices["defaultLayer"]][1] if layers else None
        self.state.update(
            {
                "layers": layers,
                "layer": default,
                "layer_reason": f"Default {default}: {choices.get('defaultReason') or 'the first layer listed'}."
                if default
                else "",
                "methods": choices["methods"],
                "method": self.state.method if self.state.method in choices["methods"] else choices["methods"][0],
                "targets": [label for label, _ in choices["targets"]],
                "target": choices["targets"][0][0],
                "model_summary": choices["summary"],
                "card_text": self.case.card_text,
                "task": self.case.task,
                "region_text": "",
                "status": f"model: {model}",
            }
        )
        self._refresh_apply()

    def open_region(self, relative):
        self._guard(self.case.open_region, relative)

    def _slice_clicked(self, interactor, _event):
        if not self.state.pick_region or self.case.volume_node is None:
            return
        for view in self.slicer.view_manager.get_slice_views():
            if view.interactor() is interactor:
                x, y = interactor.GetEventPosition()
                ras = view.get_view_node().GetXYToRAS().MultiplyPoint((float(x), float(y), 0.0, 1.0))[:3]
                text = self._guard(self.case.set_region_point, ras)
                if text:
                    self.state.region_text = text
                self.state.flush()

    def trust_toggled(self, checked):
        if checked:  # asks once, with the warning; Cancel unticks it
            self.state.trust_dialog = True

    def trust_answer(self, accepted):
        self.state.trust_dialog = False
        self.state.trust_code = bool(accepted)

    # -- the run ---------------------------------------------------------------------------------------------
    def apply(self, *_):
        if self.case.process is not None:  # the button is Cancel
            self.case.cancel()
            return
        self._guard(self._start, False)

    def compare(self, *_):
        self._guard(self._start, True)

    def _start(self, compare: bool):
        self.case.start(
            self.state.method, self.state.layer, self.state.target, bool(self.state.trust_code), compare=compare
        )
        self.clicked_at, self.overlay_seconds = time.perf_counter(), None
        self.state.update(
            {"running": True, "progress": 0, "run_status": self.case.state.status, "overlay_seconds": None}
        )
        asyncio.ensure_future(self._watch())

    async def _watch(self):
        while self.case.process is not None:
            await asyncio.sleep(POLL_SECONDS)
            state = self._guard(self.case.poll)
            if state is None:  # polling itself failed (said on the page): stop the worker, end the run
                self.case.cancel()
                self.case.process = None
                break
            with self.state:
                self.state.progress, self.state.run_status = state.percent, state.status
        with self.state:
            self._finished()

    def _finished(self):
        state = self.case.state
        self.state.running = False
        self.state.run_status = state.status
        if state.state == "error":
            self._say(f"The explanation failed: {state.message}")
        elif state.state == "done" and self.case.comparing:
            self._show_comparison()
        elif state.state == "done":
            self._show_heatmap()
            if self._auto_save:
                self._guard(self._save)
        self._auto_save = False

    def _show_heatmap(self):
        node = self.case.heatmap_node
        heatmap_node.show_in_slice_views(self.case.volume_node, node, float(self.state.opacity))
        self.case.restyle(float(self.state.threshold), float(self.state.opacity))
        peak = peak_ras(self.case.heatmap_image)
        for view in self.slicer.view_manager.get_slice_views():
            view.get_view_node().JumpSliceByOffsetting(*peak)
        surface = node.GetNodeReference(heatmap_node.SEGMENTATION_ROLE)
        surface.GetDisplayNode().SetVisibility2D(False)  # the slice views show the heatmap itself
        for derived in (surface, self._prediction_node()):
            if derived is not None:  # 3D: closed surfaces, opaque (llvmpipe drops translucent surfaces)
                derived.CreateClosedSurfaceRepresentation()
                derived.GetDisplayNode().SetOpacity3D(1.0)
        for view in self.slicer.view_manager.get_threed_views():
            view.reset_camera()
            view.reset_focal_point()
        self.overlay_seconds = time.perf_counter() - self.clicked_at
        self.state.update(
            {
                "has_result": True,
                "overlay_seconds": round(self.overlay_seconds, 2),
                "prediction_text": self._prediction_text(),
            }
        )

    def _prediction_node(self):
        from ..mrml.prediction_node import prediction_node_for  # noqa: PLC0415

        return prediction_node_for(self.case.volume_node)

    def _prediction_text(self) -> str:
        answer = heatmap_node.provenance_of(self.case.heatmap_node).get("prediction")
        if answer:
            return f"Model's answer (class probabilities): {answer}"
        return "Model's answer: shown as a segmentation beside the heatmap" if self._prediction_node() else ""

    def _show_comparison(self):
        def number(value):
            return "" if value is None else f"{value:.3f}"

        rows = [
            {
                "rank": r.get("rank") or "-",
                "method": r["method"],
                "score": number(r.get("faithfulness_score")),
                "deletion": number(r.get("deletion_auc")),
                "insertion": number(r.get("insertion_auc")),
                "sanity": "flagged" if r.get("sanity_flagged") else ("passed" if r.get("rank") else r.get("error", "")),
            }
            for r in self.case.comparison_rows
        ]
        png = self.case.comparison_png
        self.state.comparison = rows
        self.state.comparison_png = "data:image/png;base64," + base64.b64encode(png).decode() if png else ""

    def restyle(self, threshold=0.2, opacity=0.5, **_):
        if self.case.heatmap_node is not None and self.case.process is None:
            self._guard(self.case.restyle, float(threshold), float(opacity))

    def save(self, *_):
        self._guard(self._save)

    def _save(self):
        written = self.case.save(float(self.state.threshold))
        self.state.saved = [self.root.relative(p) for p in written] + list(self.state.saved or [])
        self.state.volumes = self.root.listing()["volumes"]
        self._say(f"Saved {len(written)} files under results/", "success")

    # -- a link opens a case -----------------------------------------------------------------------------------
    def open_link(self, query=""):
        self._guard(self._open_link, query)

    def _open_link(self, query):
        link = parse_link(query)
        if link.empty:
            return
        if link.volume:
            self.state.volume_path = link.volume
            self._open_volume(link.volume)
        if link.model:
            self.state.model_path, self.state.card_path = link.model, link.card or ""
            self._open_model(link.model, link.card)
        if link.method:
            if link.method not in self.state.methods:
                raise SaliencyError(
                    f"method '{link.method}' in the link is not one of: {', '.join(self.state.methods)}"
                )
            self.state.method = link.method
        if link.layer:
            if link.layer not in [entry["value"] for entry in self.state.layers]:
                raise SaliencyError(f"layer '{link.layer}' in the link is not one of the model's layers")
            self.state.layer = link.layer
        if link.target:
            self.state.target = target_choice(link.target, [(t, panel.target_value(t)) for t in self.state.targets])
        if link.run:
            self._auto_save = True
            self._start(False)


def serve(root, host: str = "127.0.0.1", port: int = 8080) -> int:
    """Start the server (blocks); prints the address once it listens on ``host`` only."""
    app = WebApp(Root(root))

    def ready(**_):
        print(f"SaliencyExplorer web: http://{host}:{app.server.port}/", flush=True)

    app.server.controller.on_server_ready.add(ready)
    sys.argv = sys.argv[:1]  # trame reads its own options from the command line: ours are not for it
    app.server.start(
        host=host, port=port, open_browser=False, timeout=0, show_connection_info=False, disable_logging=True
    )
    return 0
