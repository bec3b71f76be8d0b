"""The built-in Lora extension: registers <lora:...> at import (so the API-only server has it too), lists
--lora-dir, adds the /sdapi/v1/loras routes when the app starts and the "Lora" cards page to the UI."""

import extra_networks_lora
import lora_api
import networks
import ui_extra_networks_lora

from modules import extra_networks, script_callbacks, ui_extra_networks

networks.list_available_networks()
extra_networks.register_extra_network(extra_networks_lora.ExtraNetworkLora())


def api_networks(_demo, app) -> None:
    lora_api.add_routes(app)


def before_ui() -> None:
    ui_extra_networks.register_page(ui_extra_networks_lora.ExtraNetworksPageLora())


script_callbacks.on_app_started(api_networks)
script_callbacks.on_before_ui(before_ui)
