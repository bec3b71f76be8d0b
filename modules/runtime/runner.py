"""ProcessingRunner runs a ProcessingRequest: the surface every generation goes through (process_images hands each
one to it, inside the options overrides)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modules.processing import Processed, StableDiffusionProcessing


@dataclass(frozen=True)
class ProcessingRequest:
    """One generation to run: its processing object, set up and with the overrides applied."""

    processing: StableDiffusionProcessing


class ProcessingRunner:
    """Runs a ProcessingRequest in this process."""

    def run(self, request: ProcessingRequest) -> Processed:
        # looked up at each call: modules.processing imports this module, and extensions may wrap the function
        from modules import processing

        return processing.process_images_inner(request.processing)
