"""ProcessingRunner runs a ProcessingRequest: the surface every generation goes through (process_images hands each
one to it, inside the generation's options layer)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProcessingRequest:
    """One generation to run: its processing object (a StableDiffusionProcessing), set up and with its options layer
    bound."""

    processing: Any


class ProcessingRunner:
    """Runs a ProcessingRequest in this process with the generation function it was given
    (processing.process_images_inner, looked up by process_images at each call, so an extension's wrapper counts)."""

    def __init__(self, generate: Callable[[Any], Any]):
        self.generate = generate

    def run(self, request: ProcessingRequest):
        return self.generate(request.processing)
