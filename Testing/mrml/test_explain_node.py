"""explain_volume_node in a real headless scene: the heatmap lands on the lesion, in patient space."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from helpers.slicer_models import BrightSpot, bright_spot_file
from helpers.slicer_scene import LESION_LPS, LESION_RADIUS_MM, add_linear_transform, phantom_node, world_ras_of_voxel
from SaliencyExplorerLib import explain_volume_node
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.mrml import heatmap_node, volume_nodes

LESION_RAS = np.array(LESION_LPS) * [-1, -1, 1]


def _peak(node):
    array = volume_nodes.node_array(node)
    return world_ras_of_voxel(node, np.unravel_index(np.argmax(array), array.shape))


def test_oblique_volume_heatmap_geometry_peak_and_provenance(mrml):
    source, _, _ = phantom_node(mrml)
    before = volume_nodes.node_array(source), volume_nodes.ijk_to_ras(source)
    out = explain_volume_node(source, BrightSpot().eval(), layers="conv", threshold=0.3, label_map=True)
    assert mrml.logic("Volumes").CompareVolumeGeometry(out, source) == ""
    assert np.linalg.norm(_peak(out) - LESION_RAS) < LESION_RADIUS_MM
    heat = volume_nodes.node_array(out)
    assert heat.dtype == np.float32 and heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    far = np.linalg.norm(volume_node_points_ras(source) - LESION_RAS, axis=-1) > 3 * LESION_RADIUS_MM
    assert heat[far].max() < 0.05  # nothing far from the lesion
    record = heatmap_node.provenance_of(out)
    assert record["method"] == "gradcam" and record["layers"] == "conv" and record["target"] == "1"
    assert 0.5 < float(record["score"]) <= 1.0 and record["version"]
    assert np.linalg.norm(np.array(record["peakRAS"].split(","), float) - _peak(out)) < 1e-2
    assert np.array_equal(before[0], volume_nodes.node_array(source))
    assert np.array_equal(before[1], volume_nodes.ijk_to_ras(source))


def volume_node_points_ras(node):
    dims = node.GetImageData().GetDimensions()
    k, j, i = np.meshgrid(*(np.arange(n) for n in dims[::-1]), indexing="ij")
    ijk1 = np.stack([i, j, k, np.ones_like(i)], axis=-1).astype(float)
    return (ijk1 @ volume_nodes.world_ijk_to_ras(node)[0].T)[..., :3]


def test_parent_transform_heatmap_follows_the_volume(mrml):
    source, _, _ = phantom_node(mrml)
    transform, matrix = add_linear_transform(mrml.scene, rotation_deg_z=35.0)
    source.SetAndObserveTransformNodeID(transform.GetID())
    out = explain_volume_node(source, BrightSpot().eval(), layers="conv")
    assert out.GetTransformNodeID() == transform.GetID()
    assert np.array_equal(volume_nodes.ijk_to_ras(out), volume_nodes.ijk_to_ras(source))
    # Slicer's CompareVolumeGeometry reports "Transform mismatch" when both volumes have the SAME parent
    # transform (an inverted strcmp in vtkSlicerVolumesLogic.cxx); everything else it compares must agree.
    assert mrml.logic("Volumes").CompareVolumeGeometry(out, source) == "Transform mismatch\n"
    lesion_world = (matrix @ np.append(LESION_RAS, 1.0))[:3]
    assert np.linalg.norm(_peak(out) - lesion_world) < LESION_RADIUS_MM


def test_model_file_provenance_and_rerun_into_same_node(mrml, tmp_path):
    source, _, _ = phantom_node(mrml)
    path = bright_spot_file(tmp_path)
    out = explain_volume_node(source, str(path), layers="conv")
    assert heatmap_node.provenance_of(out)["modelSHA256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    n_nodes = mrml.scene.GetNumberOfNodes()
    again = explain_volume_node(source, str(path), method="hirescam", layers="conv", output_node=out)
    assert again is out and mrml.scene.GetNumberOfNodes() == n_nodes
    assert heatmap_node.provenance_of(out)["method"] == "hirescam"


@pytest.mark.parametrize("case", ["none", "labelmap", "vector", "missing-model", "wrong-dims"])
def test_bad_input_is_a_clear_error_and_scene_unchanged(mrml, tmp_path, case):
    import torch

    source, image, _ = phantom_node(mrml)
    model = BrightSpot().eval()
    node = source
    if case == "none":
        node = None
    elif case == "labelmap":
        node = mrml.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
        volume_nodes.set_node_voxels(node, (volume_nodes.node_array(source) > 100).astype(np.uint8))
    elif case == "vector":
        node = mrml.scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "rgb")
        volume_nodes.set_node_voxels(node, np.zeros((4, 5, 6, 3), np.uint8))
    elif case == "missing-model":
        model = str(tmp_path / "nope.pt")
    else:  # a 2D model on a 3D volume
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    n_nodes = mrml.scene.GetNumberOfNodes()
    with pytest.raises(SaliencyError) as info:
        explain_volume_node(node, model)
    assert len(str(info.value)) > 20
    assert mrml.scene.GetNumberOfNodes() == n_nodes


def test_without_torch_the_slicer_side_imports_and_explaining_says_how_to_get_it():
    """In Slicer before PyTorch is installed: the module's library parts import, and the error names the fix."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from SaliencyExplorerLib.mrml import panel, heatmap_node, color_tables, explain_node, module_logics, volume_nodes, rendering\n"
        "from SaliencyExplorerLib.workflow import worker\n"
        "from SaliencyExplorerLib.errors import SaliencyError\n"
        "import SimpleITK as sitk\n"
        "session = module_logics.start_headless()\n"
        "node = volume_nodes.add_volume_from_image(session.scene, sitk.Image(6, 6, 4, sitk.sitkFloat32), 'v')\n"
        "n = session.scene.GetNumberOfNodes()\n"
        "try:\n"
        "    explain_node.explain_volume_node(node, 'model.pt')\n"
        "except SaliencyError as exc:\n"
        "    assert session.scene.GetNumberOfNodes() == n\n"
        "    print('MESSAGE', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, result.stderr[-1500:]
    assert "MESSAGE PyTorch is not installed" in result.stdout and "PyTorch' extension" in result.stdout


@pytest.mark.parametrize("slices", [1, 5])
def test_2d_model_on_a_single_slice_and_on_a_stack(mrml, slices):
    import SimpleITK as sitk
    from helpers.slicer_models import BrightSpot2D

    source, _, mask = phantom_node(
        mrml, size=(48, 40, slices), spacing=(0.8, 0.8, 2.0), angles=(0, 0, 20), lesion_lps=(6.0, -4.0, 0.0)
    )
    out = explain_volume_node(source, BrightSpot2D().eval(), card={"spatial_dims": 2}, layers="conv")
    assert mrml.logic("Volumes").CompareVolumeGeometry(out, source) == ""
    heat = volume_nodes.node_array(out)
    lesion = sitk.GetArrayFromImage(mask).astype(bool)
    assert lesion[np.unravel_index(np.argmax(heat), heat.shape)]  # the peak voxel is a lesion voxel
    assert heat[~lesion].max() < heat.max()
