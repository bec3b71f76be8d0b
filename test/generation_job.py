"""process_images as the UI and API start it (inside shared.state.begin/end, so interrupts and job state behave), and
the script runners the tests hand it."""

from modules import processing, scripts, shared

SMALL_GENERATION = {"prompt": "a red circle", "seed": 11, "width": 64, "height": 64, "steps": 2,
                    "sampler_name": "Euler", "do_not_save_samples": True, "do_not_save_grid": True}


def small_txt2img(hooks=None, **fields) -> processing.StableDiffusionProcessingTxt2Img:
    """A 64x64, two-step txt2img that saves nothing (SMALL_GENERATION, changed by fields), with hooks as its script
    runner."""
    p = processing.StableDiffusionProcessingTxt2Img(**{**SMALL_GENERATION, **fields})
    p.scripts = hooks
    return p


def process_as_a_job(p, job: str = "txt2img") -> processing.Processed:
    shared.state.begin(job=job)
    try:
        return processing.process_images(p)
    finally:
        shared.state.end()


class Hooks:
    """A script runner stand-in: each hook named in `actions` is called with p; every other hook does nothing."""

    def __init__(self, **actions):
        self.actions = actions

    def __getattr__(self, name):
        action = self.__dict__["actions"].get(name)
        return (lambda p, *args, **kwargs: action(p)) if action else (lambda *args, **kwargs: None)


def runner_with(*script_classes) -> scripts.ScriptRunner:
    """A real ScriptRunner holding one instance of each Script class (alwayson when show() says so), each with an
    empty argument slice, and "None" selected."""
    runner = scripts.ScriptRunner()
    for script_class in script_classes:
        script = script_class()
        script.filename = f"/fake/{script_class.__name__}.py"
        visible = script.show(False)
        script.alwayson = visible is scripts.AlwaysVisible
        script.name = script.title().lower()
        script.args_from = script.args_to = 1
        runner.scripts.append(script)
        (runner.alwayson_scripts if script.alwayson else runner.selectable_scripts).append(script)
    runner.titles = [s.title() for s in runner.selectable_scripts]
    runner.title_map = {s.title().lower(): s for s in runner.selectable_scripts}
    runner.inputs, runner.default_args = [None], [0]
    return runner
