"""Process-wide state that other modules read as shared.opts, shared.cmd_opts, shared.state, shared.sd_model.

Importing this module is cheap: no torch, no gradio. The engine fills in device / sd_model when it starts."""

import os

from modules import options, shared_cmd_options, shared_items, shared_options
from modules.paths_internal import data_path
from modules.runtime import job_state

cmd_opts = shared_cmd_options.cmd_opts
parser = shared_cmd_options.parser

config_filename = cmd_opts.ui_settings_file
styles_filename = cmd_opts.styles_file = cmd_opts.styles_file or [os.path.join(data_path, "styles.csv")]
hide_dirs = shared_options.hide_dirs

options_templates = shared_options.options_templates
restricted_opts = shared_options.restricted_opts
opts = options.Options(options_templates, restricted_opts)
state = job_state.JobStateView(job_state.State(live_options=opts))
"""the running job's State (the server's own when none runs): see modules.runtime.job_state"""

sd_model = None
device = None
prompt_styles = None
total_tqdm = None
sd_upscalers = []
face_restorers = []
tab_names = []
demo = None

batch_cond_uncond = True  # A1111's old field; cond and uncond always run as one batch when they can

list_checkpoint_tiles = shared_items.list_checkpoint_tiles
refresh_checkpoints = shared_items.refresh_checkpoints
list_samplers = shared_items.list_samplers

OptionInfo = options.OptionInfo
OptionHTML = options.OptionHTML
options_section = options.options_section


def load_config(filename: str | None = None):
    """Loads opts from the settings file (cmd_opts.ui_settings_file by default); a missing file leaves defaults."""
    opts.load(filename or config_filename)


load_config()
