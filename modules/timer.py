"""A1111's Timer: named durations of startup (and other) steps, summarised in one line."""

import time


class Timer:
    def __init__(self, print_log=False):
        self.print_log = print_log
        self.reset()

    def reset(self):
        self.start = time.time()
        self.records: dict[str, float] = {}
        self.total = 0.0
        self.base_category = ""
        self.subcategory_level = 0

    def elapsed(self) -> float:
        """Seconds since the last call (or since the timer started)."""
        now = time.time()
        seconds, self.start = now - self.start, now
        return seconds

    def record(self, category, extra_time=0, disable_log=False):
        seconds = self.elapsed() + extra_time
        key = self.base_category + category
        self.records[key] = self.records.get(key, 0.0) + seconds
        self.total += seconds
        if self.print_log and not disable_log:
            print(f"{'  ' * self.subcategory_level}{category}: done in {seconds:.3f}s")

    def subcategory(self, name):
        """Context manager: records made inside are named "name/..." and the block's total is recorded as name."""
        return _Subcategory(self, name)

    def summary(self) -> str:
        shown = [(category, seconds) for category, seconds in self.records.items()
                 if seconds >= 0.1 and "/" not in category]
        result = f"{self.total:.1f}s"
        if shown:
            result += " (" + ", ".join(f"{category}: {seconds:.1f}s" for category, seconds in shown) + ")"
        return result

    def dump(self) -> dict:
        return {"total": self.total, "records": self.records}


class _Subcategory:
    def __init__(self, timer: Timer, name: str):
        self.timer = timer
        self.name = name

    def __enter__(self):
        self.outer_category = self.timer.base_category
        self.outer_total = self.timer.total
        self.timer.base_category = f"{self.outer_category}{self.name}/"
        self.timer.subcategory_level += 1
        if self.timer.print_log:
            print(f"{'  ' * (self.timer.subcategory_level - 1)}{self.name}:")

    def __exit__(self, *exc):
        inner = self.timer.total - self.outer_total + self.timer.elapsed()
        self.timer.base_category = self.outer_category
        self.timer.subcategory_level -= 1
        self.timer.total = self.outer_total
        self.timer.record(self.name, extra_time=inner, disable_log=True)


startup_timer = Timer()
