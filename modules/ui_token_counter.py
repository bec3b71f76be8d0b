"""The token counters beside the prompts (A1111's update_token_counter): tokens of the longest text the prompt's
schedule uses, styles included when the option says so, extra-network tags left out, as "used/available"."""

from modules import extra_networks, prompt_parser, script_callbacks, sd_hijack, shared


def update_token_counter(text: str, steps, styles, *, is_positive: bool = True) -> str:
    params = script_callbacks.BeforeTokenCounterParams(text or "", int(steps or 1), list(styles or []), is_positive)
    script_callbacks.before_token_counter_callback(params)
    text, steps, styles = params.prompt, max(1, int(params.steps)), params.styles
    if shared.opts.include_styles_into_token_counters and shared.prompt_styles is not None:
        apply = shared.prompt_styles.apply_styles_to_prompt if params.is_positive else \
            shared.prompt_styles.apply_negative_styles_to_prompt
        text = apply(text, styles)
    text, _ = extra_networks.parse_prompt(text)
    schedules = prompt_parser.get_learned_conditioning_prompt_schedules([text], steps)
    counts = [sd_hijack.model_hijack.get_prompt_lengths(scheduled) for schedule in schedules for _, scheduled in schedule]
    token_count, max_length = max(counts, key=lambda count: count[0])
    return f"<span class='gr-box gr-text-input'>{token_count}/{max_length}</span>"
