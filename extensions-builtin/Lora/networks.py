"""The LoRA files in --lora-dir and the ones applied to the loaded model for the current request (A1111's names)."""

import os
import weakref

import lora_adapters
import network

from modules import errors, shared

LORA_EXTENSIONS = (".safetensors",)

available_networks: dict[str, network.NetworkOnDisk] = {}
available_network_aliases: dict[str, network.NetworkOnDisk] = {}
forbidden_network_aliases: dict[str, int] = {}
loaded_networks: list[network.Network] = []
"""The networks applied now, in prompt order; their adapters are on `applied_model`."""
networks_in_memory: dict[tuple, tuple[dict, dict]] = {}
"""Converted state dicts kept for opts.lora_in_memory_limit files: {(file, mtime, size, arch): (tensors, alphas)}."""
applied_model: weakref.ref | None = None
"""The model they are on, held weakly (a model let go, as when a refiner takes over, is freed with its adapters)."""


def _lora_files(folder: str) -> list[str]:
    found = []
    for root, _, names in os.walk(folder, followlinks=True):
        found += [os.path.join(root, name) for name in names if name.lower().endswith(LORA_EXTENSIONS)]
    return sorted(found)


def list_available_networks() -> None:
    available_networks.clear()
    available_network_aliases.clear()
    forbidden_network_aliases.clear()
    forbidden_network_aliases.update({"none": 1, "Addams": 1})
    os.makedirs(shared.cmd_opts.lora_dir, exist_ok=True)
    for filename in _lora_files(shared.cmd_opts.lora_dir):
        name = os.path.splitext(os.path.basename(filename))[0]
        entry = network.NetworkOnDisk(name, filename)
        available_networks[name] = entry
        if entry.alias in available_network_aliases:
            forbidden_network_aliases[entry.alias.lower()] = 1
        available_network_aliases[name] = entry
        available_network_aliases[entry.alias] = entry


def _find_networks_on_disk(names: list[str]) -> list[network.NetworkOnDisk | None]:
    return [available_networks.get(name) if name.lower() in forbidden_network_aliases
            else available_network_aliases.get(name) for name in names]


def _memory_key(network_on_disk: network.NetworkOnDisk, sd_model) -> tuple:
    stat = os.stat(network_on_disk.filename)
    return network_on_disk.filename, stat.st_mtime, stat.st_size, sd_model.architecture.name


def _read_network(network_on_disk: network.NetworkOnDisk, sd_model) -> tuple[dict, dict]:
    key = _memory_key(network_on_disk, sd_model)
    if key in networks_in_memory:
        return networks_in_memory[key]
    state_dict, alphas = lora_adapters.read_lora_state_dict(network_on_disk.filename, sd_model)
    networks_in_memory[key] = (state_dict, alphas)
    purge_networks_from_memory()
    return state_dict, alphas


def purge_networks_from_memory() -> None:
    limit = max(int(shared.opts.lora_in_memory_limit or 0), 0)
    while len(networks_in_memory) > limit:
        networks_in_memory.pop(next(iter(networks_in_memory)))


def _applied_to():
    """The model the networks are on; None once that model was let go and freed (they went with it)."""
    return applied_model() if applied_model is not None else None


def _same_as_applied(wanted: list[network.Network], sd_model) -> bool:
    if _applied_to() is not sd_model or len(wanted) != len(loaded_networks):
        return False
    return all(_memory_key(a.network_on_disk, sd_model) == _memory_key(b.network_on_disk, sd_model)
               for a, b in zip(wanted, loaded_networks))


def _add_adapters(wanted: list[network.Network], sd_model, problems: dict[str, str]) -> list[network.Network]:
    global applied_model
    applied_model = weakref.ref(sd_model)
    added = []
    for index, net in enumerate(wanted):
        net.adapter_name = f"lora_{index}"
        try:
            state_dict, alphas = _read_network(net.network_on_disk, sd_model)
            net.components = lora_adapters.add_adapter(sd_model, net.adapter_name, state_dict, alphas)
        except Exception as e:
            errors.display(e, f"loading network {net.network_on_disk.filename}")
            lora_adapters.discard_adapter(sd_model, net.adapter_name)
            problems[net.name] = f"{type(e).__name__}: {e}"
            continue
        added.append(net)
    return added


def load_networks(names: list[str], te_multipliers=None, unet_multipliers=None, dyn_dims=None) -> dict[str, str]:
    """Applies the named networks to shared.sd_model (and removes any others); returns {name: why it was left out}.

    dyn_dims (LyCORIS dynamic dimensions) are accepted and ignored."""
    sd_model = shared.sd_model
    problems = {}
    networks_on_disk = _find_networks_on_disk(names)
    if any(entry is None for entry in networks_on_disk):
        list_available_networks()
        networks_on_disk = _find_networks_on_disk(names)
    wanted = []
    for index, (name, network_on_disk) in enumerate(zip(names, networks_on_disk)):
        if network_on_disk is None:
            problems[name] = "not found"
            continue
        net = network.Network(name, network_on_disk)
        net.mentioned_name = name
        net.te_multiplier = te_multipliers[index] if te_multipliers else 1.0
        net.unet_multiplier = unet_multipliers[index] if unet_multipliers else 1.0
        net.dyn_dim = dyn_dims[index] if dyn_dims else None
        wanted.append(net)
    if _same_as_applied(wanted, sd_model):
        for net, applied in zip(wanted, loaded_networks):
            net.adapter_name, net.components = applied.adapter_name, applied.components
        applied = wanted
    else:
        remove_networks()
        applied = _add_adapters(wanted, sd_model, problems) if wanted else []
    loaded_networks[:] = applied
    lora_adapters.set_multipliers(sd_model, {net.adapter_name: (net.components, net.te_multiplier,
                                                                net.unet_multiplier) for net in applied})
    return problems


def remove_networks() -> None:
    """Takes every applied network off the model it was applied to; the model's weights are as before."""
    global applied_model
    model = _applied_to()
    if model is not None:
        lora_adapters.remove_adapters(model)
    applied_model = None
    loaded_networks.clear()
