"""Rename diffusers / transformers component state dicts into the original LDM single-file checkpoint layout.

Each function takes one component's state dict (diffusers names) and returns it under the names (and tensor
shapes) that the original Stable Diffusion checkpoints use, without a component prefix.
"""

import re

import torch

UNET_RESNET_NAMES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
UNET_TOP_LEVEL_NAMES = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
VAE_ATTENTION_NAMES = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
OPENCLIP_LAYER_NAMES = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}
OPENCLIP_TOP_LEVEL_NAMES = {
    "embeddings.token_embedding.weight": "token_embedding.weight",
    "embeddings.position_embedding.weight": "positional_embedding",
    "final_layer_norm.weight": "ln_final.weight",
    "final_layer_norm.bias": "ln_final.bias",
}


def _rename_prefix(name: str, table: dict[str, str]) -> str:
    for old, new in table.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old) :]
    return name


def unet_key(name: str, layers_per_block: int, up_blocks_with_attention: set[int]) -> str:
    """One UNet2DConditionModel parameter name -> its LDM name (under model.diffusion_model.)."""
    blocks_per_level = layers_per_block + 1
    if match := re.match(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.+)", name):
        level, kind, index, rest = int(match[1]), match[2], int(match[3]), match[4]
        if kind == "downsamplers":
            return f"input_blocks.{1 + level * blocks_per_level + layers_per_block}.0.op.{rest.removeprefix('conv.')}"
        block = 1 + level * blocks_per_level + index
        if kind == "resnets":
            return f"input_blocks.{block}.0.{_rename_prefix(rest, UNET_RESNET_NAMES)}"
        return f"input_blocks.{block}.1.{rest}"
    if match := re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)", name):
        kind, index, rest = match[1], int(match[2]), match[3]
        if kind == "resnets":
            return f"middle_block.{2 * index}.{_rename_prefix(rest, UNET_RESNET_NAMES)}"
        return f"middle_block.1.{rest}"
    if match := re.match(r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.+)", name):
        level, kind, index, rest = int(match[1]), match[2], int(match[3]), match[4]
        if kind == "upsamplers":
            slot = 2 if level in up_blocks_with_attention else 1
            return f"output_blocks.{level * blocks_per_level + layers_per_block}.{slot}.{rest}"
        block = level * blocks_per_level + index
        if kind == "resnets":
            return f"output_blocks.{block}.0.{_rename_prefix(rest, UNET_RESNET_NAMES)}"
        return f"output_blocks.{block}.1.{rest}"
    return _rename_prefix(name, UNET_TOP_LEVEL_NAMES)


def unet_to_ldm(state_dict: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    with_attention = {i for i, kind in enumerate(config["up_block_types"]) if "CrossAttn" in kind}
    return {unet_key(k, config["layers_per_block"], with_attention): v for k, v in state_dict.items()}


def vae_key(name: str, num_up_blocks: int) -> str:
    """One AutoencoderKL parameter name -> its LDM name (under first_stage_model.)."""
    name = name.replace(".conv_norm_out.", ".norm_out.")
    if match := re.match(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.+)", name):
        coder, kind, index, rest = match[1], match[2], int(match[3]), match[4]
        if kind == "resnets":
            return f"{coder}.mid.block_{index + 1}.{rest.replace('conv_shortcut', 'nin_shortcut')}"
        return f"{coder}.mid.attn_1.{_rename_prefix(rest, VAE_ATTENTION_NAMES)}"
    if match := re.match(r"encoder\.down_blocks\.(\d+)\.(resnets|downsamplers)\.(\d+)\.(.+)", name):
        level, kind, index, rest = int(match[1]), match[2], int(match[3]), match[4]
        if kind == "downsamplers":
            return f"encoder.down.{level}.downsample.{rest}"
        return f"encoder.down.{level}.block.{index}.{rest.replace('conv_shortcut', 'nin_shortcut')}"
    if match := re.match(r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.+)", name):
        level, kind, index, rest = num_up_blocks - 1 - int(match[1]), match[2], int(match[3]), match[4]
        if kind == "upsamplers":
            return f"decoder.up.{level}.upsample.{rest}"
        return f"decoder.up.{level}.block.{index}.{rest.replace('conv_shortcut', 'nin_shortcut')}"
    return name


def vae_to_ldm(state_dict: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    converted = {}
    for name, tensor in state_dict.items():
        key = vae_key(name, len(config["up_block_types"]))
        # The LDM mid-block attention projections are 1x1 convolutions, not linear layers.
        if ".mid.attn_1." in key and key.endswith(".weight") and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]
        converted[key] = tensor
    return converted


def clip_to_ldm(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers CLIPTextModel -> the HF layout the SD 1.x / SDXL checkpoints embed (under ...transformer.)."""
    return {"text_model." + k.removeprefix("text_model."): v for k, v in state_dict.items()}


def openclip_to_ldm(state_dict: dict[str, torch.Tensor], projection: torch.Tensor) -> dict[str, torch.Tensor]:
    """transformers CLIP text model -> OpenCLIP's text tower layout (under ...model.).

    `projection` is the (out, in) weight of the text projection; OpenCLIP stores it transposed.
    """
    converted = {"text_projection": projection.T.contiguous()}
    in_proj: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in state_dict.items():
        name = name.removeprefix("text_model.")
        if name in OPENCLIP_TOP_LEVEL_NAMES:
            converted[OPENCLIP_TOP_LEVEL_NAMES[name]] = tensor
            continue
        match = re.match(r"encoder\.layers\.(\d+)\.(.+)", name)
        if match is None:
            raise KeyError(f"no OpenCLIP name for {name}")
        block, rest = f"transformer.resblocks.{match[1]}", match[2]
        if qkv := re.match(r"self_attn\.([qkv])_proj\.(weight|bias)", rest):
            in_proj.setdefault(f"{block}.attn.in_proj_{qkv[2]}", {})[qkv[1]] = tensor
        else:
            converted[f"{block}.{_rename_prefix(rest, OPENCLIP_LAYER_NAMES)}"] = tensor
    for key, parts in in_proj.items():
        converted[key] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return converted
