"""GET /sdapi/v1/loras and POST /sdapi/v1/refresh-loras (A1111's Lora extension routes)."""

from typing import Any

import networks
from fastapi import FastAPI
from pydantic import BaseModel

from modules.api.errors import ApiRoute
from modules.call_queue import queue_lock


class LoraItem(BaseModel):
    name: str
    alias: str
    path: str
    metadata: dict[str, Any]


def create_lora_json(obj) -> dict:
    return {"name": obj.name, "alias": obj.alias, "path": obj.filename, "metadata": obj.metadata}


def get_loras() -> list[dict]:
    return [create_lora_json(obj) for obj in networks.available_networks.values()]


def refresh_loras() -> None:
    with queue_lock:
        networks.list_available_networks()


def add_routes(app: FastAPI) -> None:
    app.router.add_api_route("/sdapi/v1/loras", get_loras, methods=["GET"], response_model=list[LoraItem],
                             route_class_override=ApiRoute)
    app.router.add_api_route("/sdapi/v1/refresh-loras", refresh_loras, methods=["POST"],
                             route_class_override=ApiRoute)
