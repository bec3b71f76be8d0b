#!/usr/bin/env bash
# Starts Serena webui: creates ./venv on first run, installs the pinned requirements (launch.py), serves the UI + API;
# ./webui.sh cli ... runs the command line (cli.py) instead.
# Settings: webui-user.sh (sourced when present), e.g. COMMANDLINE_ARGS="--listen --api".
set -eo pipefail

install_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
caller_dir="$PWD"
cd "$install_dir"

if [[ -f webui-user.sh ]]; then
    # shellcheck source=webui-user.sh
    source ./webui-user.sh
fi

if [[ -z "${python_cmd:-}" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then python_cmd=python3.11; else python_cmd=python3; fi
fi
venv_dir="${venv_dir:-venv}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"

if [[ ! -x "$venv_dir/bin/python" ]]; then
    echo "Creating a Python virtual environment in $install_dir/$venv_dir with $python_cmd"
    if ! "$python_cmd" -m venv "$venv_dir"; then
        echo "ERROR: could not create the venv; on Debian/Ubuntu install python3-venv (or python3.11-venv)." >&2
        exit 1
    fi
fi
# shellcheck disable=SC1091
source "$venv_dir/bin/activate"

# ./webui.sh cli ARGS: the command line (cli.py) in this venv; the server's COMMANDLINE_ARGS are not its flags.
if [[ "${1:-}" == "cli" ]]; then
    shift
    cd "$caller_dir"  # the command's paths are the caller's
    exec python "$install_dir/cli.py" "$@"
fi

# COMMANDLINE_ARGS is split on spaces on purpose, as in A1111's webui.sh.
# shellcheck disable=SC2086
exec python "${LAUNCH_SCRIPT:-launch.py}" ${COMMANDLINE_ARGS:-} "$@"
