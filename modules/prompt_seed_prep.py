"""The request turned into per-image prompts and seeds: the first state a generation fixes (A1111 does it inline).

`prepare_prompt_seed_state(p)` reads p.seed, p.subseed, p.subseed_strength, p.prompt, p.negative_prompt, p.styles,
p.batch_size, p.n_iter (and, for txt2img with hires fix, p.hr_prompt / p.hr_negative_prompt) and writes only the
fields of PREPARED_FIELDS. Random seeds come from Python's global `random`, as in A1111.
"""

import random

PREPARED_FIELDS = frozenset({
    "main_prompt", "main_negative_prompt", "all_prompts", "all_negative_prompts",
    "all_hr_prompts", "all_hr_negative_prompts", "all_seeds", "all_subseeds",
})


def get_fixed_seed(seed):
    """-1, None or "" (or text that is not a number) become a random seed; anything else is kept."""
    if seed in (None, "", -1):
        return int(random.randrange(4294967294))
    if isinstance(seed, str):
        try:
            return int(seed)
        except ValueError:
            return int(random.randrange(4294967294))
    return seed


def fix_seed(p) -> None:
    """-1 seeds become fixed random ones (scripts call it so that every image they make shares them)."""
    p.seed = get_fixed_seed(p.seed)
    p.subseed = get_fixed_seed(p.subseed)


def per_image_seeds(seed, subseed, subseed_strength: float, count: int) -> tuple[list, list]:
    """A1111's per-image seeds: lists are kept; otherwise seed + i without a variation, the same seed with one
    (then only the variation seed steps), and subseed + i."""
    seeds = seed if isinstance(seed, list) else [int(seed) + (i if subseed_strength == 0 else 0) for i in range(count)]
    subseeds = subseed if isinstance(subseed, list) else [int(subseed) + i for i in range(count)]
    return seeds, subseeds


def prepare_prompt_seed_state(p) -> None:
    """Fixes -1 seeds (seed first, then subseed), applies the styles through p.setup_prompts() and fills
    p.all_seeds / p.all_subseeds, one per prompt."""
    seed = get_fixed_seed(p.seed)
    subseed = get_fixed_seed(p.subseed)
    p.setup_prompts()
    p.all_seeds, p.all_subseeds = per_image_seeds(seed, subseed, p.subseed_strength, len(p.all_prompts))
