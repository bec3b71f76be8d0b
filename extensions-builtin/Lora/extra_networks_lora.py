"""<lora:name:te_multiplier:unet_multiplier> in prompts (A1111's ExtraNetworkLora): one number sets both multipliers,
named te= / unet= (and dyn=) override the positional ones."""

import logging

import networks

from modules import extra_networks, shared

log = logging.getLogger(__name__)

REMOVE_SYMBOLS = str.maketrans("", "", ":,")


def multipliers_of(params: extra_networks.ExtraNetworkParams) -> tuple[float, float, int | None]:
    """(text encoder multiplier, UNet multiplier, dyn dim) of one tag, as A1111 reads them."""
    te_multiplier = float(params.positional[1]) if len(params.positional) > 1 else 1.0
    te_multiplier = float(params.named.get("te", te_multiplier))
    unet_multiplier = float(params.positional[2]) if len(params.positional) > 2 else te_multiplier
    unet_multiplier = float(params.named.get("unet", unet_multiplier))
    dyn_dim = int(params.positional[3]) if len(params.positional) > 3 else None
    dyn_dim = int(params.named["dyn"]) if "dyn" in params.named else dyn_dim
    return te_multiplier, unet_multiplier, dyn_dim


class ExtraNetworkLora(extra_networks.ExtraNetwork):
    def __init__(self):
        super().__init__("lora")
        self.errors = {}
        self.not_found = []

    def activate(self, p, params_list):
        additional = shared.opts.sd_lora
        self.errors.clear()
        self.not_found.clear()
        if additional != "None" and additional in networks.available_networks and \
                not any(x for x in params_list if x.items[0] == additional):
            multiplier = shared.opts.extra_networks_default_multiplier
            p.all_prompts = [x + f"<lora:{additional}:{multiplier}>" for x in p.all_prompts]
            params_list.append(extra_networks.ExtraNetworkParams(items=[additional, multiplier]))

        names, te_multipliers, unet_multipliers, dyn_dims = [], [], [], []
        for params in params_list:
            assert params.items
            te_multiplier, unet_multiplier, dyn_dim = multipliers_of(params)
            names.append(params.positional[0])
            te_multipliers.append(te_multiplier)
            unet_multipliers.append(unet_multiplier)
            dyn_dims.append(dyn_dim)

        problems = networks.load_networks(names, te_multipliers, unet_multipliers, dyn_dims)
        self.not_found = [name for name, why in problems.items() if why == "not found"]
        self.errors = {name: why for name, why in problems.items() if why != "not found"}
        if self.not_found:
            message = f"Lora not found: {', '.join(self.not_found)}"
            log.warning(message)
            p.comment(message)

        if shared.opts.lora_add_hashes_to_infotext:
            if not getattr(p, "is_hr_pass", False) or not hasattr(p, "lora_hashes"):
                p.lora_hashes = {}
            for item in networks.loaded_networks:
                item.network_on_disk.read_hash()
                if item.network_on_disk.shorthash and item.mentioned_name:
                    p.lora_hashes[item.mentioned_name.translate(REMOVE_SYMBOLS)] = item.network_on_disk.shorthash
            if p.lora_hashes:
                p.extra_generation_params["Lora hashes"] = ", ".join(f"{k}: {v}" for k, v in p.lora_hashes.items())

    def deactivate(self, p):
        networks.remove_networks()
        if self.errors:
            p.comment("Networks with errors: " + ", ".join(f"{k} ({v})" for k, v in self.errors.items()))
            self.errors.clear()
