"""A job's progress on stderr: a tqdm bar with ETA on a terminal, plain lines (every tenth of the way) elsewhere."""

import sys

from tqdm import tqdm

PLAIN_LINE_STEP = 0.1


class ProgressDisplay:
    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self._bar = None
        self._last_line_fraction = -1.0

    def update(self, numbers: dict) -> None:
        """numbers: a job's {step, steps, fraction, eta_s} (modules.jobs.live.progress, or a server's job progress)."""
        if not numbers["steps"]:
            return  # not sampling yet (the model loads)
        percent = round(100 * numbers["fraction"], 1)
        if self.interactive:
            if self._bar is None:
                self._bar = tqdm(total=100, desc=self.label, unit="%", file=self.stream, leave=False,
                                 bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")
            self._bar.set_postfix_str(f"step {numbers['step']}/{numbers['steps']}", refresh=False)
            self._bar.n = max(self._bar.n, percent)
            self._bar.refresh()  # polled a few times a second: each poll is drawn
            return
        if round(numbers["fraction"] - self._last_line_fraction, 6) >= PLAIN_LINE_STEP or numbers["fraction"] >= 1:
            self._last_line_fraction = numbers["fraction"]
            eta = "" if numbers.get("eta_s") is None else f", ETA {numbers['eta_s']:.1f} s"
            print(f"{self.label}: {percent:.0f}% (step {numbers['step']}/{numbers['steps']}{eta})", file=self.stream,
                  flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
