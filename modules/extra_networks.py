"""Extra networks named in prompts as <type:arg1:arg2:...> (A1111's modules/extra_networks.py).

parse_prompt() takes every such tag out of the text; activate() hands each registered network type the arguments
of its tags (a type nobody registered is logged and skipped), deactivate() ends them after generation."""

import logging
import re
from collections import defaultdict

from modules import errors

log = logging.getLogger(__name__)

extra_network_registry: dict[str, "ExtraNetwork"] = {}
extra_network_aliases: dict[str, "ExtraNetwork"] = {}

re_extra_net = re.compile(r"<(\w+):([^>]+)>")


def initialize() -> None:
    extra_network_registry.clear()
    extra_network_aliases.clear()


def register_extra_network(extra_network: "ExtraNetwork") -> None:
    extra_network_registry[extra_network.name] = extra_network


def unregister_extra_network(extra_network_name: str) -> None:
    extra_network_registry.pop(extra_network_name, None)


def register_extra_network_alias(extra_network: "ExtraNetwork", alias: str) -> None:
    extra_network_aliases[alias] = extra_network


class ExtraNetworkParams:
    """The arguments of one tag: `<lora:name:0.5:unet=0.2>` → items ["name", "0.5", "unet=0.2"],
    positional ["name", "0.5"], named {"unet": "0.2"}."""

    def __init__(self, items=None):
        self.items = items or []
        self.positional = []
        self.named = {}
        for item in self.items:
            parts = item.split("=", 2) if isinstance(item, str) else [item]
            if len(parts) == 2:
                self.named[parts[0]] = parts[1]
            else:
                self.positional.append(item)

    def __eq__(self, other):
        return isinstance(other, ExtraNetworkParams) and self.items == other.items

    def __repr__(self):
        return f"ExtraNetworkParams({self.items!r})"


class ExtraNetwork:
    def __init__(self, name: str):
        self.name = name

    def activate(self, p, params_list: list[ExtraNetworkParams]) -> None:
        """Called before the conditioning of every batch with the arguments of this type's tags (maybe none)."""
        raise NotImplementedError

    def deactivate(self, p) -> None:
        """Called once after generation."""
        raise NotImplementedError


def lookup_extra_networks(extra_network_data: dict) -> dict[ExtraNetwork, list[ExtraNetworkParams]]:
    """{registered network: its arguments} for the tags of extra_network_data; unknown types are logged, skipped."""
    found = {}
    for name, params_list in list(extra_network_data.items()):
        extra_network = extra_network_registry.get(name) or extra_network_aliases.get(name)
        if extra_network is None:
            log.warning("Skipping unknown extra network: %s", name)
            continue
        found.setdefault(extra_network, []).extend(params_list)
    return found


def activate(p, extra_network_data: dict) -> None:
    """Activates the mentioned networks in order, then every other registered one with no arguments; then runs
    the scripts' after_extra_networks_activate."""
    activated = [extra_network for extra_network, params_list in lookup_extra_networks(extra_network_data).items()
                 if _reported(extra_network.activate, p, params_list,
                              task=f"activating extra network {extra_network.name} with arguments {params_list}")]
    for name, extra_network in _unmentioned(activated):
        _reported(extra_network.activate, p, [], task=f"activating extra network {name}")
    if p.scripts is not None:
        p.scripts.after_extra_networks_activate(p, batch_number=p.iteration, prompts=p.prompts, seeds=p.seeds,
                                                subseeds=p.subseeds, extra_network_data=extra_network_data)


def deactivate(p, extra_network_data: dict) -> None:
    """Deactivates the mentioned networks, then every other registered one."""
    mentioned = lookup_extra_networks(extra_network_data)
    for extra_network in mentioned:
        _reported(extra_network.deactivate, p, task=f"deactivating extra network {extra_network.name}")
    for name, extra_network in _unmentioned(mentioned):
        _reported(extra_network.deactivate, p, task=f"deactivating unmentioned extra network {name}")


def _unmentioned(handled) -> list[tuple[str, ExtraNetwork]]:
    """The registered networks not in handled, by name."""
    return [(name, network) for name, network in extra_network_registry.items() if network not in handled]


def _reported(call, *args, task: str) -> bool:
    """call(*args); an exception is reported as failing `task` and the generation goes on. True when it worked."""
    try:
        call(*args)
    except Exception as e:
        errors.display(e, task)
        return False
    return True


def parse_prompt(prompt: str) -> tuple[str, dict[str, list[ExtraNetworkParams]]]:
    """The prompt without its <type:...> tags, and {type: [ExtraNetworkParams, ...]} in the order they appear."""
    found = defaultdict(list)

    def take(match):
        found[match.group(1)].append(ExtraNetworkParams(items=match.group(2).split(":")))
        return ""

    return re.sub(re_extra_net, take, prompt), found


def parse_prompts(prompts: list[str]) -> tuple[list[str], dict[str, list[ExtraNetworkParams]]]:
    """Every prompt without its tags; the networks are those of the first prompt (as in A1111)."""
    stripped = []
    extra_data = None
    for prompt in prompts:
        updated, parsed = parse_prompt(prompt)
        if extra_data is None:
            extra_data = parsed
        stripped.append(updated)
    return stripped, extra_data if extra_data is not None else {}
