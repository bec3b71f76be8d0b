"""The built-in Lora extension: registers <lora:...> at import (so the API-only server has it too), lists
--lora-dir, and adds the /sdapi/v1/loras routes when the app starts."""

import extra_networks_lora
import lora_api
import networks

from modules import extra_networks, script_callbacks

networks.list_available_networks()
extra_networks.register_extra_network(extra_networks_lora.ExtraNetworkLora())


def api_networks(_demo, app) -> None:
    lora_api.add_routes(app)


script_callbacks.on_app_started(api_networks)
