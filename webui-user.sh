#!/usr/bin/env bash
# Settings for webui.sh, which sources this file. Uncomment and edit what you need.

# Flags for launch.py, e.g. "--listen --port 7860 --api" or "--nowebui --data-dir /srv/serena"
#export COMMANDLINE_ARGS=""

# Python used to create the venv (default: python3.11, else python3)
#python_cmd="python3.11"

# Where the venv lives (default: venv next to webui.sh)
#venv_dir="venv"

# Install torch from this index instead of pip's default, e.g. https://download.pytorch.org/whl/cpu
#export TORCH_INDEX_URL=""

# Script that webui.sh runs (default: launch.py)
#export LAUNCH_SCRIPT="launch.py"
