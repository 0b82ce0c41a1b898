"""SaliencyExplorer: where did a PyTorch model look? Heatmaps in patient space, as Slicer volumes.

The module is a thin shell: the panel shows what ``SaliencyExplorerLib`` decides (``mrml.panel``), the
logic calls the library (``mrml.explain_node``, ``mrml.heatmap_node``, ``workflow.worker``). Only torch-free
library modules are imported at file scope: torch and the engine load only after the user picked a model
and agreed to install PyTorch if needed.
"""

import logging
import pathlib
from typing import Annotated, Union

import slicer
import vtk
from SaliencyExplorerLib.core.options import DEFAULT_METHOD
from SaliencyExplorerLib.mrml.color_tables import COLOR_MAPS
from SaliencyExplorerLib.mrml.panel import DEVICES
from slicer import vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

POLL_MS = 200
LIBRARY = "SaliencyExplorerLib"


#
# SaliencyExplorer
#


class SaliencyExplorer(ScriptedLoadableModule):
    """Module description for Slicer's module list (title, category, help, acknowledgement)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Saliency Explorer")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Analysis")]
        self.parent.dependencies = []
        self.parent.contributors = ["SaliencyExplorer contributors"]
        self.parent.helpText = _("""
Shows where a PyTorch model looked: Grad-CAM and other saliency heatmaps of 2D/3D models, mapped back
exactly onto the input volume (same grid, same transform) as a colour overlay.<br>
<b>Usage:</b> pick the input volume, the model file (and its model card), the target layer (the default is
preselected), the method and the class to explain, then Apply. The computation runs in a background
process (Apply becomes Cancel). The heatmap volume appears beside the input, shown over it in the slice views.
Tick <i>Evaluate</i> to also get a table (deletion/insertion areas against a random map, the
model-randomisation sanity check, and with a region the pointing game and energy fraction) and the
deletion/insertion curves as a plot.
From the Python console: <code>from SaliencyExplorerLib import explain_volume_node</code>.
See the <a href="https://github.com/SaliencyExplorer/SlicerSaliencyExplorer/blob/main/docs/slicer.md">documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Built on 3D Slicer, PyTorch (through the SlicerPyTorch extension) and SimpleITK. CAM methods follow the
published papers; the module's shape follows Slicer's scripted-module template.
""")


#
# SaliencyExplorerParameterNode
#


@parameterNodeWrapper
class SaliencyExplorerParameterNode:
    """The panel's choices, saved with the scene. layer/method/target are filled by the widget."""

    inputVolume: vtkMRMLScalarVolumeNode
    modelPath: pathlib.Path
    cardPath: pathlib.Path
    layer: str = ""
    method: str = DEFAULT_METHOD
    target: str = ""
    methodOptions: str = ""
    batchSize: Annotated[int, WithinRange(0, 512)] = 0
    device: Annotated[str, Choice(DEVICES)] = "auto"
    outputVolume: vtkMRMLScalarVolumeNode
    colorMap: Annotated[str, Choice(COLOR_MAPS)] = "Inferno"
    threshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.2
    opacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    makeLabelMap: bool = False
    makeSegmentation: bool = False
    showPrediction: bool = False
    evaluate: bool = False
    evaluationRegion: Union[vtkMRMLLabelMapVolumeNode, vtkMRMLSegmentationNode]
    trustCode: bool = False


#
# SaliencyExplorerWidget
#


class SaliencyExplorerWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: shows the parameter node, starts and polls the background run; decisions are in mrml.panel."""

    def __init__(self, parent=None) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._worker = None
        self._comparing = False  # the running worker ranks methods (Compare methods), not one explanation
        self._runState = None
        self._timer = None

    def setup(self) -> None:
        """Called when the user opens the module the first time: load the .ui, connect signals."""
        ScriptedLoadableModuleWidget.setup(self)
        import qt

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SaliencyExplorer.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SaliencyExplorerLogic()
        self._timer = qt.QTimer()
        self._timer.setInterval(POLL_MS)
        self._timer.connect("timeout()", self.onPoll)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.compareButton.connect("clicked(bool)", self.onCompareButton)
        self.ui.modelFolderButton.connect("clicked(bool)", self.onModelFolderButton)
        self.ui.modelPathLineEdit.connect("currentPathChanged(QString)", self.onModelChanged)
        self.ui.cardPathLineEdit.connect("currentPathChanged(QString)", self.onModelChanged)
        self.ui.layerComboBox.connect("currentIndexChanged(int)", self.onChoiceChanged)
        self.ui.methodComboBox.connect("currentIndexChanged(int)", self.onChoiceChanged)
        self.ui.targetComboBox.connect("currentIndexChanged(int)", self.onChoiceChanged)
        self.ui.trustCodeCheckBox.connect("toggled(bool)", self.onTrustCodeToggled)
        self.ui.progressBar.hide()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        self.removeObservers()
        if self._timer:  # no poll may reach this widget once it is destroyed
            self._timer.stop()
        if self._worker:  # kill it and remove its job folder (module reload, Slicer closing)
            self._worker.cleanup()
            self._worker = None

    def onTrustCodeToggled(self, checked) -> None:
        """Ticking 'Trust code' asks once, with the warning; declining unticks it."""
        from SaliencyExplorerLib.mrml import panel

        if checked and not slicer.util.confirmOkCancelDisplay(_(panel.TRUST_CODE_WARNING)):
            self.ui.trustCodeCheckBox.checked = False

    def enter(self) -> None:
        """Called each time the user opens this module."""
        self.initializeParameterNode()

    def exit(self) -> None:
        """Called each time the user opens a different module."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        """Called just before the scene is closed."""
        if self._worker:  # the scene it would write into is going: stop it, drop its job folder
            self._timer.stop()
            self._worker.cleanup()
            self._worker = None
            self.ui.applyButton.text = _("Apply")
            self.ui.progressBar.hide()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        """Called just after the scene is closed."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onReload(self) -> None:
        """Reload the library too: Slicer's Reload re-imports only this file, so drop every cached
        ``SaliencyExplorerLib`` module first (as SlicerNNUnet does) and edited library files take effect."""
        import sys

        if self._worker:
            self._worker.cancel()
        for name in [n for n in sys.modules if n == LIBRARY or n.startswith(LIBRARY + ".")]:
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)

    def initializeParameterNode(self) -> None:
        """Ensure the parameter node exists and is observed; pick the first scalar volume as input."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first and not first.IsA("vtkMRMLLabelMapVolumeNode"):
                self._parameterNode.inputVolume = first

    def setParameterNode(self, inputParameterNode) -> None:
        """Set and observe the parameter node; the GUI follows it through connectGui."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            from SaliencyExplorerLib.mrml import panel

            offered = panel.available_devices()  # only devices that exist here
            if self._parameterNode.device not in offered:
                self._parameterNode.device = "auto"
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            for index in reversed(range(self.ui.deviceComboBox.count)):
                if self.ui.deviceComboBox.itemText(index) not in offered:
                    self.ui.deviceComboBox.removeItem(index)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        from SaliencyExplorerLib.mrml import panel

        if self._worker:  # while running the button is Cancel
            return
        p = self._parameterNode
        if p and p.outputVolume and not panel.output_belongs_to(p.outputVolume, p.inputVolume):
            p.outputVolume = None  # another input's heatmap is never the output of this one: next run creates one
            return  # the change re-enters this observer
        ok, why = panel.can_apply(p and p.inputVolume, p and p.modelPath)
        self.ui.applyButton.enabled = ok
        self.ui.applyButton.toolTip = _(why)
        self.ui.compareButton.enabled = ok
        if p and p.outputVolume:  # live colour/threshold/opacity on an existing heatmap
            from SaliencyExplorerLib.mrml import heatmap_node

            heatmap_node.restyle(p.inputVolume, p.outputVolume, p.colorMap, p.threshold, p.opacity)

    def onModelChanged(self, _path=None) -> None:
        """Fill the layer, method and class lists from the model (needs torch: asks to install it)."""
        from SaliencyExplorerLib.mrml import panel

        model = panel.path_or_none(self.ui.modelPathLineEdit.currentPath)
        if not model:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not read the model."), waitCursor=True):
            if not self.logic.ensureTorch():
                self.ui.statusLabel.text = _(
                    "PyTorch is needed: install it (PyTorch extension), then pick the model again."
                )
                return
            listing = self.logic.modelChoices(model, panel.path_or_none(self.ui.cardPathLineEdit.currentPath))
            self._fill(self.ui.layerComboBox, listing["layers"], listing["defaultLayer"])
            self._fill(
                self.ui.methodComboBox,
                [(m, m) for m in listing["methods"]],
                listing["methods"].index(DEFAULT_METHOD) if DEFAULT_METHOD in listing["methods"] else 0,
            )
            self._fill(self.ui.targetComboBox, listing["targets"], 0)
            self.ui.statusLabel.text = listing["summary"]

    def onModelFolderButton(self) -> None:
        """A model folder (nnU-Net v2, MONAI bundle) goes in the same model field as a file."""
        import qt

        folder = qt.QFileDialog.getExistingDirectory(
            self.parent, _("Select an nnU-Net or MONAI bundle folder"), self.ui.modelPathLineEdit.currentPath
        )
        if folder:
            self.ui.modelPathLineEdit.currentPath = folder  # fires currentPathChanged: lists are refilled

    @staticmethod
    def _fill(combo, entries, index) -> None:
        combo.clear()
        for label, value in entries:
            combo.addItem(label, value)
        combo.currentIndex = index

    def onChoiceChanged(self, _index=None) -> None:
        if not self._parameterNode:
            return
        self._parameterNode.layer = self.ui.layerComboBox.currentData or ""
        self._parameterNode.method = self.ui.methodComboBox.currentText or DEFAULT_METHOD
        self._parameterNode.target = self.ui.targetComboBox.currentText or ""

    def onApplyButton(self) -> None:
        if self._worker:  # the button is Cancel
            self._worker.cancel()
            return
        self._startRun(self.logic.startBackground, comparing=False)

    def onCompareButton(self) -> None:
        """Rank several methods by faithfulness in the background (Apply becomes Cancel meanwhile)."""
        if not self._worker:
            self._startRun(self.logic.startComparison, comparing=True)

    def _startRun(self, start, comparing) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to start the explanation."), waitCursor=True):
            if not self.logic.ensureTorch():
                raise ValueError(_("PyTorch is not installed: install the PyTorch extension, or accept the install."))
            from SaliencyExplorerLib.mrml import panel

            self._worker = start(self._parameterNode)
            self._comparing = comparing
            self._runState = panel.RunState()
            self.ui.compareButton.enabled = False
            self.ui.applyButton.text = _("Cancel")
            self.ui.progressBar.value = 0
            self.ui.progressBar.show()
            self.ui.statusLabel.text = self._runState.status
            self._timer.start()

    def onPoll(self) -> None:
        events = self._worker.poll()
        for kind, value in events:
            if kind == "log":
                logging.info(value)
        state = self._runState.update(events, cancelled=self._worker.cancelled)
        self.ui.progressBar.value = state.percent
        self.ui.statusLabel.text = state.status
        if state.state == "running" or not any(kind == "exit" for kind, _ in events):
            return
        self._timer.stop()
        worker, self._worker = self._worker, None
        self.ui.applyButton.text = _("Apply")
        self.ui.progressBar.hide()
        self._checkCanApply()
        if state.state == "done" and self._comparing:
            with slicer.util.tryWithErrorDisplay(_("Failed to add the comparison to the scene."), waitCursor=True):
                from SaliencyExplorerLib.mrml import panel

                nodes = self.logic.finishComparison(worker, self._parameterNode)
                self.ui.statusLabel.text = panel.comparison_summary(nodes["rows"])
        elif state.state == "done":
            with slicer.util.tryWithErrorDisplay(_("Failed to add the heatmap to the scene."), waitCursor=True):
                from SaliencyExplorerLib.mrml import evaluation_nodes, panel

                node = self.logic.finishBackground(worker, self._parameterNode)
                if panel.output_belongs_to(node, self._parameterNode.inputVolume):
                    self._parameterNode.outputVolume = node
                report = evaluation_nodes.evaluation_of(node) if self._parameterNode.evaluate else None
                if report:
                    self.ui.statusLabel.text = panel.evaluation_summary(report)
                if state.warnings:  # e.g. an empty prediction explained over the whole image: never silent
                    slicer.util.warningDisplay(" ".join(state.warnings), windowTitle=_("Saliency Explorer"))
        worker.cleanup()  # every ending: the job folder goes (finish_background also removes it)
        if state.state != "done":  # error or cancelled: the scene was not touched
            if state.state == "error":
                slicer.util.errorDisplay(_("The explanation failed: ") + state.message)


#
# SaliencyExplorerLogic
#


class SaliencyExplorerLogic(ScriptedLoadableModuleLogic):
    """MRML glue for the panel and the console; the work is in SaliencyExplorerLib."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return SaliencyExplorerParameterNode(super().getParameterNode())

    @staticmethod
    def ensureTorch(askConfirmation=True) -> bool:
        """True when torch is importable; otherwise offer to install it through the PyTorch extension."""
        try:
            import torch  # noqa: F401

            return True
        except ImportError:
            pass
        try:
            import PyTorchUtils
        except ImportError as exc:
            raise ValueError(
                _(
                    "This module needs the PyTorch extension: install 'PyTorch' from the Extensions "
                    "Manager and restart Slicer."
                )
            ) from exc
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if not torchLogic.torchInstalled():
            if askConfirmation and not slicer.util.confirmOkCancelDisplay(
                _("Saliency Explorer needs PyTorch. Download and install it now (about 1-3 GB)?")
            ):
                return False
            if torchLogic.installTorch(askConfirmation=False, torchVersionRequirement=">=2.1") is None:
                return False
        return True

    @staticmethod
    def modelChoices(modelPath, cardPath=None) -> dict:
        from SaliencyExplorerLib.mrml import panel

        return panel.model_choices(modelPath, cardPath)

    def _arguments(self, p) -> dict:
        from SaliencyExplorerLib.mrml import panel

        options = panel.run_options(p.methodOptions, p.batchSize, p.device, p.trustCode)
        return dict(
            card=panel.path_or_none(p.cardPath),
            method=p.method or DEFAULT_METHOD,
            layers=p.layer or None,
            target=panel.target_value(p.target),
            **options,
        )

    @staticmethod
    def _evaluation(p) -> dict:
        from SaliencyExplorerLib.mrml import panel

        checks, region = panel.evaluation_options(p.evaluate, p.evaluationRegion)
        return dict(evaluate=checks, region=region)

    def process(self, p, showResult=True):
        """In-process run (console, tests): returns the heatmap node (its evaluation: evaluation_nodes.evaluation_of)."""
        from SaliencyExplorerLib.mrml import explain_node, heatmap_node, panel

        node = explain_node.explain_volume_node(
            p.inputVolume,
            panel.path_or_none(p.modelPath),
            output_node=p.outputVolume,
            color_map=p.colorMap,
            threshold=p.threshold,
            label_map=p.makeLabelMap,
            segmentation=p.makeSegmentation,
            prediction=p.showPrediction,
            **self._evaluation(p),
            **self._arguments(p),
        )
        if showResult:
            heatmap_node.show_in_slice_views(p.inputVolume, node, p.opacity)
        return node

    def startBackground(self, p):
        """Start the worker process with Slicer's own Python; returns it (poll it, cancel it)."""
        import shutil

        from SaliencyExplorerLib.mrml import explain_node, panel

        if not p.inputVolume:
            raise ValueError(_("Select an input volume."))
        return explain_node.start_background(
            p.inputVolume,
            panel.path_or_none(p.modelPath),
            python=shutil.which("PythonSlicer"),
            **self._evaluation(p),
            **self._arguments(p),
        )

    def startComparison(self, p):
        """Start a worker that ranks several methods on the input (the panel's Compare methods)."""
        import shutil

        from SaliencyExplorerLib.mrml import explain_node, panel

        if not p.inputVolume:
            raise ValueError(_("Select an input volume."))
        checks, region = panel.comparison_options(p.evaluationRegion)
        # every method with its defaults: the method options and batch size of the panel belong to one method
        options = panel.run_options("", 0, p.device, p.trustCode)
        return explain_node.start_background(
            p.inputVolume,
            panel.path_or_none(p.modelPath),
            card=panel.path_or_none(p.cardPath),
            layers=p.layer or None,
            target=panel.target_value(p.target),
            python=shutil.which("PythonSlicer"),
            compare=True,
            evaluate=checks,
            region=region,
            **options,
        )

    def finishComparison(self, worker, p, showResult=True) -> dict:
        """Heatmaps (one per method, in a folder), the ranked table and the curves beside the compared volume."""
        from SaliencyExplorerLib.mrml import compare_nodes, explain_node

        source = explain_node.explained_volume(worker, p.inputVolume)
        nodes = explain_node.finish_comparison(worker, source, threshold=p.threshold, show_in_layout=showResult)
        nodes["rows"] = compare_nodes.comparison_of(nodes["table"])["table"]
        return nodes

    def finishBackground(self, worker, p, showResult=True):
        from SaliencyExplorerLib.mrml import explain_node, heatmap_node, panel

        source = explain_node.explained_volume(worker, p.inputVolume)  # the volume it explained, not today's pick
        output = p.outputVolume if panel.output_belongs_to(p.outputVolume, source) else None
        node = explain_node.finish_background(
            worker,
            source,
            output_node=output,
            color_map=p.colorMap,
            threshold=p.threshold,
            label_map=p.makeLabelMap,
            segmentation=p.makeSegmentation,
            prediction=p.showPrediction,
            show_in_layout=showResult,
        )
        if showResult:
            heatmap_node.show_in_slice_views(source, node, p.opacity)
        return node


#
# SaliencyExplorerTest
#


class SaliencyExplorerTest(ScriptedLoadableModuleTest):
    """In-Slicer tests on synthetic data (no download): the same MRML checks as the pytest suite."""

    def setUp(self):
        """Do whatever is needed to reset the state - typically a scene clear will be enough."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Run as few or as many tests as needed here."""
        self.setUp()
        self.test_heatmap_node_geometry_and_display()
        self.setUp()
        self.test_bad_input_leaves_scene_unchanged()

    def _phantom(self):
        from SaliencyExplorerLib.demo import phantoms
        from SaliencyExplorerLib.mrml import volume_nodes

        image, mask = phantoms.make_phantom(
            size=(40, 36, 14),
            spacing=(0.9, 1.1, 3.0),
            direction=phantoms.rotation_direction((18, -12, 25)),
            lesion_center_lps=(8.0, -6.0, 4.0),
            lesion_radius_mm=6.0,
        )
        return volume_nodes.add_volume_from_image(slicer.mrmlScene, image, "phantom"), image, mask

    def test_heatmap_node_geometry_and_display(self):
        import numpy as np
        from SaliencyExplorerLib.demo import phantoms
        from SaliencyExplorerLib.mrml import heatmap_node, volume_nodes

        source, image, mask = self._phantom()
        center = phantoms.lesion_center_of(image, mask)
        points = phantoms.voxel_points_lps(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())
        heat = np.exp(-np.sum((points - center) ** 2, axis=-1) / 32.0).astype(np.float32)
        out = heatmap_node.write_heatmap(source, heat, threshold=0.3, label_map=True)
        self.assertEqual(slicer.modules.volumes.logic().CompareVolumeGeometry(out, source), "")
        peak = np.unravel_index(np.argmax(volume_nodes.node_array(out)), heat.shape)
        peak_ras = volume_nodes.ijk_to_world_ras(out, peak[::-1])
        self.assertLess(np.linalg.norm(peak_ras - center * [-1, -1, 1]), 6.0)
        self.assertAlmostEqual(out.GetDisplayNode().GetLowerThreshold(), 0.3)
        self.assertEqual(
            int(volume_nodes.node_array(out.GetNodeReference(heatmap_node.LABEL_MAP_ROLE)).sum()),
            int((heat >= 0.3).sum()),
        )
        self.delayDisplay("Heatmap node test passed")

    def test_bad_input_leaves_scene_unchanged(self):
        import numpy as np
        from SaliencyExplorerLib.errors import SaliencyError
        from SaliencyExplorerLib.mrml import heatmap_node

        source, _image, _mask = self._phantom()
        count = slicer.mrmlScene.GetNumberOfNodes()
        with self.assertRaises(SaliencyError):
            heatmap_node.write_heatmap(source, [[0.0]], output_node=source)
        other = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "another patient")
        count += 1
        with self.assertRaises(SaliencyError):  # not a heatmap of this source: never overwritten
            dims = source.GetImageData().GetDimensions()
            heatmap_node.write_heatmap(source, np.zeros(dims[::-1], np.float32), output_node=other)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), count)
        self.delayDisplay("Bad input test passed")
