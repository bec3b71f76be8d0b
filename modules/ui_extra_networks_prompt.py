"""What clicking an extra network card does to the prompt: adds the card's text, or takes it out when the prompt
already holds that network (A1111's updatePromptArea / tryToRemoveExtraNetworkFromPrompt, in Python)."""

import re

from modules import shared

# A1111's re_extranet / re_extranet_g: "<lora:name:0.8>", the text after the tag being the card's activation text
CARD_TEXT = re.compile(r"<([^:^>]+:[^:]+):[\d.]+>(.*)", re.S)
NETWORK_TAG = re.compile(r"<([^:^>]+:[^:]+):[\d.]+>")


def multiplier_text(value: float) -> str:
    """A multiplier as JavaScript writes a number (1.0 -> "1", 0.75 -> "0.75"), as A1111's cards insert it."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def default_multiplier() -> str:
    return multiplier_text(shared.opts.extra_networks_default_multiplier)


def remove_network_from_prompt(prompt: str, text: str, separator: str) -> str | None:
    """The prompt without the network of `text` (whatever multiplier the prompt gives it), without the text that
    follows the tag in `text` and without the separator before it; None when the prompt does not hold it."""
    card = CARD_TEXT.search(text)
    if card is None:
        without = re.sub(f"(?:{re.escape(separator)})?{re.escape(text)}", "", prompt) if text else prompt
        return without if without != prompt else None

    wanted, text_after = card.group(1), card.group(2)
    position = -1
    removed_chars = 0

    def drop_wanted(found: re.Match) -> str:
        nonlocal position, removed_chars
        if found.group(1) != wanted:
            return found.group(0)
        position = found.start() - removed_chars
        removed_chars += len(found.group(0))
        return ""

    without = NETWORK_TAG.sub(drop_wanted, prompt)
    if position < 0:
        return None
    if text_after and without[position:position + len(text_after)] == text_after:
        without = without[:position] + without[position + len(text_after):]
    if separator and position >= len(separator) and without[position - len(separator):position] == separator:
        without = without[:position - len(separator)] + without[position:]
    return without


def update_prompt(prompt: str, text: str, separator: str | None = None) -> str:
    """The prompt after a click on the card whose text is `text`: without that network when it held it, else with
    `text` appended after opts.extra_networks_add_text_separator."""
    if separator is None:
        separator = shared.opts.extra_networks_add_text_separator
    without = remove_network_from_prompt(prompt, text, separator)
    if without is not None:
        return without
    return f"{prompt}{separator}{text}" if prompt else text
