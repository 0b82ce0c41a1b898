"""Small hostile model folders for the bad-input harness: an nnU-Net v2 folder and a MONAI bundle written
by hand (no planning run), each a few kB, with one field changed per case."""

from __future__ import annotations

import copy
import json
from pathlib import Path

# The plans nnU-Net 2.x wrote for a tiny 3d_fullres dataset (helpers.nnunet_fixture), 2d configuration dropped.
PLANS = json.loads(
    '{"dataset_name":"Dataset901_Tiny","plans_name":"nnUNetPlans","image_reader_writer":"SimpleITKIO","transpose_forward":[0,1,2],"transpose_backward":[0,1,2],"configurations":{"3d_fullres":{"data_identifier":"nnUNetPlans_3d_fullres","preprocessor_name":"DefaultPreprocessor","batch_size":2,"patch_size":[20,28,32],"median_image_size_in_voxels":[20.0,26.0,30.0],"spacing":[2.0,1.2999999523162842,1.125],"normalization_schemes":["CTNormalization"],"use_mask_for_norm":[false],"resampling_fn_data":"resample_data_or_seg_to_shape","resampling_fn_seg":"resample_data_or_seg_to_shape","resampling_fn_data_kwargs":{"is_seg":false,"order":3,"order_z":0,"force_separate_z":null},"resampling_fn_seg_kwargs":{"is_seg":true,"order":1,"order_z":0,"force_separate_z":null},"resampling_fn_probabilities":"resample_data_or_seg_to_shape","resampling_fn_probabilities_kwargs":{"is_seg":false,"order":1,"order_z":0,"force_separate_z":null},"architecture":{"network_class_name":"dynamic_network_architectures.architectures.unet.PlainConvUNet","arch_kwargs":{"n_stages":3,"features_per_stage":[4,8,16],"conv_op":"torch.nn.modules.conv.Conv3d","kernel_sizes":[[3,3,3],[3,3,3],[3,3,3]],"strides":[[1,1,1],[2,2,2],[2,2,2]],"n_conv_per_stage":[2,2,2],"n_conv_per_stage_decoder":[2,2],"conv_bias":true,"norm_op":"torch.nn.modules.instancenorm.InstanceNorm3d","norm_op_kwargs":{"eps":1e-05,"affine":true},"dropout_op":null,"dropout_op_kwargs":null,"nonlin":"torch.nn.LeakyReLU","nonlin_kwargs":{"inplace":true}},"_kw_requires_import":["conv_op","norm_op","dropout_op","nonlin"]},"batch_dice":false}},"experiment_planner_used":"ExperimentPlanner","label_manager":"LabelManager","foreground_intensity_properties_per_channel":{"0":{"max":244.75083923339844,"mean":44.6284294128418,"median":40.615501403808594,"min":-14.963744163513184,"percentile_00_5":0.479869544506073,"percentile_99_5":212.84942626953125,"std":30.72499656677246}}}'
)
DATASET = {
    "channel_names": {"0": "CT"},
    "labels": {"background": 0, "body": 1},
    "numTraining": 2,
    "file_ending": ".nii.gz",
}


def nnunet_folder(tmp: Path, edit=None, dataset=None, plans_text=None) -> Path:
    """tmp/nnunet/{plans.json, dataset.json, fold_0/checkpoint_final.pth}; ``edit(plans)`` changes the plans."""
    from helpers.nnunet_fixture import write_checkpoint

    folder = tmp / "nnunet"
    (folder / "fold_0").mkdir(parents=True)
    plans = copy.deepcopy(PLANS)
    write_checkpoint(folder / "fold_0" / "checkpoint_final.pth", plans, DATASET, 0)
    if edit is not None:
        edit(plans)
    (folder / "plans.json").write_text(plans_text if plans_text is not None else json.dumps(plans))
    (folder / "dataset.json").write_text(json.dumps(DATASET if dataset is None else dataset))
    return folder


BUNDLE_NETWORK = {
    "_target_": "UNet",
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 2,
    "channels": [4, 8],
    "strides": [2],
    "num_res_units": 0,
}


def bundle_config(network=None) -> dict:
    return {
        "network_def": dict(BUNDLE_NETWORK if network is None else network),
        "preprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "LoadImaged", "keys": "image"},
                {"_target_": "EnsureChannelFirstd", "keys": "image"},
                {
                    "_target_": "ScaleIntensityRanged",
                    "keys": "image",
                    "a_min": -200,
                    "a_max": 300,
                    "b_min": 0.0,
                    "b_max": 1.0,
                    "clip": True,
                },
            ],
        },
        "inferer": {"_target_": "SimpleInferer"},
    }


def bundle_folder(tmp: Path, config=None, yaml_text=None, weights=True) -> Path:
    """tmp/bundle/{configs/inference.json (or .yaml), configs/metadata.json, models/model.pt}."""
    import torch
    from monai.networks.nets import UNet

    folder = tmp / "bundle"
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    (folder / "configs" / "metadata.json").write_text(json.dumps({"version": "0.1.0"}))
    if yaml_text is not None:
        (folder / "configs" / "inference.yaml").write_text(yaml_text)
    else:
        (folder / "configs" / "inference.json").write_text(json.dumps(bundle_config() if config is None else config))
    if weights:
        args = {k: v for k, v in BUNDLE_NETWORK.items() if k != "_target_"}
        torch.save(UNet(**args).state_dict(), folder / "models" / "model.pt")
    return folder


def alias_bomb(levels: int = 40) -> str:
    """A YAML 'billion laughs': each level names the one below nine times (9**levels leaves)."""
    lines = ['a0: &a0 ["lol"]']
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    lines.append(
        f"network_def: {{_target_: UNet, spatial_dims: 3, in_channels: 1, out_channels: 2, channels: "
        f"[4, 8], strides: [2], num_res_units: 0, dropout: *a{levels - 1}}}"
    )
    lines.append("preprocessing: *a" + str(levels - 1))
    return "\n".join(lines) + "\n"


def detached(path: Path, data_name: str, image=None) -> Path:
    """A .nhdr/.mhd header whose voxel data lives in ``data_name`` beside it (SimpleITK's own file, renamed)."""
    import SimpleITK as sitk

    image = sitk.Image([6, 7, 8], sitk.sitkFloat32) + 1.0 if image is None else image
    sitk.WriteImage(image, str(path), True)
    written = path.with_name(path.stem + (".raw.gz" if path.suffix == ".nhdr" else ".zraw"))
    written.rename(path.with_name(data_name))
    text = path.read_text().replace(written.name, data_name)
    path.write_text(text)
    return path
