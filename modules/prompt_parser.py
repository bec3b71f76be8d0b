"""A1111 prompt syntax: emphasis weights, prompt editing and alternation schedules, and scheduled conditioning.

With 100 steps, "a [mountain:lake:0.25] at [dawn|dusk]" is "a mountain at dawn" on step 1, "a mountain at dusk" on
step 2, ... and "a lake at ..." from step 26 on. The text model is not known here: it is whatever object offers
`get_learned_conditioning(texts)`.
"""

import re
from collections import namedtuple
from dataclasses import dataclass

import torch

ScheduledPromptConditioning = namedtuple("ScheduledPromptConditioning", ["end_at_step", "cond"])


# Prompt editing and alternation.
#
# The grammar (A1111's): at the top level a prompt is text, elements, and stray "[", "]", "(", ")", ":" characters.
# Elements are (p), (p:p), [p], [p|p|...], [p:when], [p:p:when], where each p is text and elements, with no stray
# characters. Text is anything but \ [ ] ( ) : |, or a backslash and the character after it. A prompt that does not
# fit (a "|" outside [...], a dangling backslash) is used as it is, without a schedule.

_TEXT = re.compile(r"(?:[^\\\[\]():|]|\\.)+")
_WHEN = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*\]")


class _Malformed(Exception):
    pass


@dataclass
class _Edit:
    before: list
    after: list
    when: str
    step: int = 0


@dataclass
class _Alternation:
    options: list


class _ScheduleParser:
    def __init__(self, text: str):
        self.text = text
        self.elements = {}  # position of "[" or "(" -> (items, end), or None where no element starts

    def at(self, pos: int) -> str:
        return self.text[pos:pos + 1]

    def parse(self) -> list:
        # An element's parse never depends on what precedes it: reading them right to left keeps recursion shallow.
        for pos in reversed(range(len(self.text))):
            if self.at(pos) in ("[", "("):
                self.try_element(pos)

        items, pos = [], 0
        while pos < len(self.text):
            char = self.text[pos]
            if match := _TEXT.match(self.text, pos):
                items.append(match.group())
                pos = match.end()
            elif char in "[(" and (element := self.try_element(pos)):
                items.extend(element[0])
                pos = element[1]
            elif char in "[]():":
                items.append(char)
                pos += 1
            else:
                raise _Malformed
        return items

    def try_element(self, pos: int) -> tuple[list, int] | None:
        if pos not in self.elements:
            try:
                self.elements[pos] = self.read_element(pos)
            except _Malformed:
                self.elements[pos] = None
        return self.elements[pos]

    def nested(self, pos: int) -> tuple[list, int]:
        """Text and elements from pos up to the first "]", ")", ":", "|" of this level or the end."""
        items = []
        while pos < len(self.text):
            if match := _TEXT.match(self.text, pos):
                items.append(match.group())
                pos = match.end()
            elif self.at(pos) in ("[", "(") and (element := self.try_element(pos)):
                items.extend(element[0])
                pos = element[1]
            elif self.at(pos) in ("]", ")", ":", "|"):
                break
            else:
                raise _Malformed  # an element that does not parse, or a dangling backslash
        return items, pos

    def read_element(self, pos: int) -> tuple[list, int]:
        opening = self.at(pos)
        first, pos = self.nested(pos + 1)
        separator = self.at(pos)
        if opening == "(":
            if separator == ")":
                return ["(", *first, ")"], pos + 1
            if separator == ":":
                second, pos = self.nested(pos + 1)
                if self.at(pos) == ")":
                    return ["(", *first, ":", *second, ")"], pos + 1
            raise _Malformed
        if separator == "]":
            return ["[", *first, "]"], pos + 1
        if separator == "|":
            options = [first]
            while self.at(pos) == "|":
                option, pos = self.nested(pos + 1)
                options.append(option)
            if self.at(pos) == "]":
                return [_Alternation(options)], pos + 1
        if separator == ":":
            if when := _WHEN.match(self.text, pos + 1):
                return [_Edit([], first, when.group(1))], when.end()
            second, pos = self.nested(pos + 1)
            if self.at(pos) == ":" and (when := _WHEN.match(self.text, pos + 1)):
                return [_Edit(first, second, when.group(1))], when.end()
        raise _Malformed


def _nodes(items: list):
    for item in items:
        if isinstance(item, _Edit):
            yield item
            yield from _nodes(item.before)
            yield from _nodes(item.after)
        elif isinstance(item, _Alternation):
            yield item
            for option in item.options:
                yield from _nodes(option)


def _text_at(items: list, step: int) -> str:
    parts = []
    for item in items:
        if isinstance(item, _Edit):
            parts.append(_text_at(item.before if step <= item.step else item.after, step))
        elif isinstance(item, _Alternation):
            parts.append(_text_at(item.options[(step - 1) % len(item.options)], step))
        else:
            parts.append(item)
    return "".join(parts)


def get_learned_conditioning_prompt_schedules(
    prompts: list[str], base_steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False
) -> list[list[list[int | str]]]:
    """Per prompt, [[end_at_step, text], ...]: the text to use up to and including each end_at_step.

    A `when` written with a decimal point is a fraction of the steps, one without is a step number. For the hires
    pass (hires_steps given) whens count past the first pass: 1.5 is halfway through hires, base_steps + 3 its
    third step. With use_old_scheduling a `when` below 1 is a fraction, otherwise a step, and only base_steps count.
    """
    if hires_steps is None or use_old_scheduling:
        steps, step_offset, fraction_offset = base_steps, 0, 0.0
    else:
        steps, step_offset, fraction_offset = hires_steps, base_steps, 1.0

    def when_to_step(when: str) -> int:
        value = float(when)
        if use_old_scheduling:
            step = value * steps if value < 1 else value
        elif "." in when:
            step = (value - fraction_offset) * steps
        else:
            step = value - step_offset
        return int(max(0.0, min(steps, step)))

    def schedule(prompt: str) -> list[list[int | str]]:
        try:
            items = _ScheduleParser(prompt).parse()
            ends = {steps}
            for node in _nodes(items):
                if isinstance(node, _Edit):
                    node.step = when_to_step(node.when)
                    if node.step >= 1:
                        ends.add(node.step)
                else:
                    ends.update(range(1, steps + 1))
            return [[end, _text_at(items, end)] for end in sorted(ends)]
        except (_Malformed, RecursionError):  # RecursionError: edits nested hundreds deep
            return [[steps, prompt]]

    schedules = {}
    for prompt in prompts:
        if prompt not in schedules:
            schedules[prompt] = schedule(prompt)
    return [schedules[prompt] for prompt in prompts]


# Conditioning.

class SdConditioning(list):
    """Prompts for the text model, with the image size and polarity SDXL needs for its extra conditioning."""

    def __init__(self, prompts, is_negative_prompt=False, width=None, height=None, copy_from=None):
        super().__init__(prompts)
        source = prompts if copy_from is None else copy_from
        self.is_negative_prompt = is_negative_prompt or getattr(source, "is_negative_prompt", False)
        self.width = width or getattr(source, "width", None)
        self.height = height or getattr(source, "height", None)


class DictWithShape(dict):
    """A dict of conditioning tensors (SDXL: crossattn, vector) that reports its cross-attention shape.

    `shape` is accepted because A1111 callers pass it; the crossattn tensor's own shape is what is reported.
    """

    def __init__(self, x=(), shape=None):
        super().__init__(x)

    @property
    def shape(self):
        return self["crossattn"].shape


def _row(conds, index: int):
    if isinstance(conds, dict):
        return {key: value[index] for key, value in conds.items()}
    return conds[index]


def get_learned_conditioning(
    model, prompts: list[str], steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False
) -> list[list[ScheduledPromptConditioning]]:
    """Per prompt, its schedule with each text encoded; all distinct texts go to the model in one call."""
    schedules = get_learned_conditioning_prompt_schedules(prompts, steps, hires_steps, use_old_scheduling)
    texts = list(dict.fromkeys(text for schedule in schedules for _, text in schedule))
    if not texts:
        return []
    conds = model.get_learned_conditioning(SdConditioning(texts, copy_from=prompts))
    row_of_text = {text: index for index, text in enumerate(texts)}

    built = {}
    for prompt, schedule in zip(prompts, schedules):
        if prompt not in built:
            built[prompt] = [ScheduledPromptConditioning(end, _row(conds, row_of_text[text])) for end, text in schedule]
    return [built[prompt] for prompt in prompts]


def stack_conds(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack [tokens, dim] rows; shorter rows are lengthened by repeating their last token vector."""
    length = max(tensor.shape[0] for tensor in tensors)
    padded = [
        torch.cat([tensor, tensor[-1:].expand(length - tensor.shape[0], *tensor.shape[1:])])
        if tensor.shape[0] < length else tensor
        for tensor in tensors
    ]
    return torch.stack(padded)


def conds_in_effect(c: list[list[ScheduledPromptConditioning]], current_step: int) -> list:
    """Each prompt's cond in effect at current_step."""
    return [next((entry.cond for entry in schedule if current_step <= entry.end_at_step), schedule[-1].cond)
            for schedule in c]


def reconstruct_cond_batch(c: list[list[ScheduledPromptConditioning]], current_step: int):
    """The batch of conds in effect at current_step: a tensor, or a DictWithShape of tensors for dict conds."""
    return cond_batch(conds_in_effect(c, current_step))


def cond_batch(rows: list):
    """The prompts' conds as one batch: a tensor, or a DictWithShape of tensors for dict conds."""
    if not isinstance(rows[0], dict):
        return stack_conds(rows)
    # Only the cross-attention conds have a token dimension.
    return DictWithShape({
        key: (stack_conds if key == "crossattn" else torch.stack)([row[key] for row in rows]) for key in rows[0]
    })


# Emphasis.

_ATTENTION_TOKEN = re.compile(r"""
    \\[()\[\]\\] | \\
  | :\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)
  | [()\[\]:]
  | [^\\()\[\]:]+
""", re.X)
_BREAK = re.compile(r"\s*\bBREAK\b\s*")


def parse_prompt_attention(text: str) -> list[list]:
    """[[text, weight], ...] for a prompt's emphasis; a BREAK keyword becomes ["BREAK", -1].

    (a) multiplies a's weight by 1.1, [a] divides it by 1.1, (a:1.5) multiplies it by 1.5, and nested brackets
    multiply. A bracket left open applies to the rest of the prompt; a closing bracket with none open is text.
    \\( \\) \\[ \\] \\\\ are those characters as text; any other backslash is dropped.
    """
    entries = []  # [text, weight]; text None marks a BREAK, which keeps its weight and is never merged
    round_open, square_open = [], []

    def multiply(start: int, factor: float):
        for entry in entries[start:]:
            if entry[0] is not None:
                entry[1] *= factor

    for match in _ATTENTION_TOKEN.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            entries.append([token[1:], 1.0])
        elif token == "(":
            round_open.append(len(entries))
        elif token == "[":
            square_open.append(len(entries))
        elif weight is not None and round_open:
            multiply(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            multiply(round_open.pop(), 1.1)
        elif token == "]" and square_open:
            multiply(square_open.pop(), 1 / 1.1)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index:
                    entries.append([None, -1])
                entries.append([part, 1.0])

    for start in round_open:
        multiply(start, 1.1)
    for start in square_open:
        multiply(start, 1 / 1.1)

    merged = []
    for part, weight in entries or [["", 1.0]]:
        previous = merged[-1] if merged else None
        if previous and part is not None and previous[0] is not None and previous[1] == weight:
            previous[0] += part
        else:
            merged.append([part, weight])
    return [["BREAK", -1] if part is None else [part, weight] for part, weight in merged]
