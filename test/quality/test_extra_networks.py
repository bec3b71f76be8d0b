"""modules/extra_networks.py: tag parsing and the activate/deactivate protocol (A1111's behaviour)."""

import logging
from types import SimpleNamespace

import pytest

from modules import extra_networks


class RecordingNetwork(extra_networks.ExtraNetwork):
    def __init__(self, name, calls):
        super().__init__(name)
        self.calls = calls

    def activate(self, p, params_list):
        self.calls.append(("activate", self.name, [params.items for params in params_list]))

    def deactivate(self, p):
        self.calls.append(("deactivate", self.name))


class RecordingScripts:
    def __init__(self, calls):
        self.calls = calls

    def after_extra_networks_activate(self, p, **kwargs):
        self.calls.append(("after_extra_networks_activate", sorted(kwargs)))


@pytest.fixture
def calls():
    saved = dict(extra_networks.extra_network_registry)
    extra_networks.extra_network_registry.clear()
    recorded = []
    yield recorded
    extra_networks.extra_network_registry.clear()
    extra_networks.extra_network_registry.update(saved)


def test_parse_prompt_takes_the_tags_out_in_order():
    prompt, data = extra_networks.parse_prompt("a <lora:one:0.5> cat <lora:two:te=1:unet=0> <hypernet:h>")
    assert prompt == "a  cat  "
    assert [params.items for params in data["lora"]] == [["one", "0.5"], ["two", "te=1", "unet=0"]]
    assert [params.items for params in data["hypernet"]] == [["h"]]


def test_params_split_positional_and_named():
    params = extra_networks.ExtraNetworkParams(items=["name", "0.5", "unet=0.2", "dyn=4"])
    assert params.positional == ["name", "0.5"]
    assert params.named == {"unet": "0.2", "dyn": "4"}
    assert params == extra_networks.ExtraNetworkParams(items=["name", "0.5", "unet=0.2", "dyn=4"])


def test_parse_prompts_uses_the_first_prompts_networks():
    prompts, data = extra_networks.parse_prompts(["<lora:a:1>x", "<lora:b:1>y"])
    assert prompts == ["x", "y"]
    assert [params.items for params in data["lora"]] == [["a", "1"]]


def test_activate_calls_mentioned_then_unmentioned_then_the_scripts_hook(calls, caplog):
    extra_networks.register_extra_network(RecordingNetwork("lora", calls))
    extra_networks.register_extra_network(RecordingNetwork("other", calls))
    p = SimpleNamespace(scripts=RecordingScripts(calls), iteration=0, prompts=["x"], seeds=[1], subseeds=[2])
    _, data = extra_networks.parse_prompt("x <lora:a:1> <unknown:z>")
    with caplog.at_level(logging.WARNING):
        extra_networks.activate(p, data)
    assert calls == [("activate", "lora", [["a", "1"]]), ("activate", "other", []),
                     ("after_extra_networks_activate",
                      ["batch_number", "extra_network_data", "prompts", "seeds", "subseeds"])]
    assert "Skipping unknown extra network: unknown" in caplog.text


def test_deactivate_reaches_every_registered_network(calls):
    extra_networks.register_extra_network(RecordingNetwork("lora", calls))
    extra_networks.register_extra_network(RecordingNetwork("other", calls))
    extra_networks.deactivate(SimpleNamespace(), {})
    assert calls == [("deactivate", "lora"), ("deactivate", "other")]


def test_unregister_removes_the_type(calls):
    extra_networks.register_extra_network(RecordingNetwork("lora", calls))
    extra_networks.unregister_extra_network("lora")
    assert "lora" not in extra_networks.extra_network_registry
