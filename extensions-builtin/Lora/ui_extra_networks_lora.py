"""The "Lora" page of the extra networks tabs: a card for each file in --lora-dir (A1111's names)."""

import os

import networks

from modules import shared, ui_extra_networks
from modules.ui_extra_networks_prompt import default_multiplier


class ExtraNetworksPageLora(ui_extra_networks.ExtraNetworksPage):
    def __init__(self):
        super().__init__("Lora")

    def refresh(self) -> None:
        networks.list_available_networks()

    def create_item(self, name: str, index=None) -> dict | None:
        lora_on_disk = networks.available_networks.get(name)
        if lora_on_disk is None:
            return None
        path = os.path.splitext(lora_on_disk.filename)[0]
        alias = lora_on_disk.get_alias(networks.forbidden_network_aliases)
        search_terms = [self.search_terms_from_path(lora_on_disk.filename)]
        if lora_on_disk.hash:
            search_terms.append(lora_on_disk.hash)
        return {
            "name": name,
            "filename": lora_on_disk.filename,
            "shorthash": lora_on_disk.shorthash,
            "preview": self.find_preview(path),
            "search_terms": search_terms,
            "metadata": lora_on_disk.metadata,
            "sort_keys": {"default": index},
            "prompt": f"<lora:{alias}:{default_multiplier()}>",
        }

    def list_items(self):
        for index, name in enumerate(list(networks.available_networks)):
            item = self.create_item(name, index)
            if item is not None:
                yield item

    def allowed_directories_for_previews(self) -> list[str]:
        return [shared.cmd_opts.lora_dir]
