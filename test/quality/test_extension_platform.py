"""A1111's extension surfaces outside the UI: preload.py adds flags before the command line is read, install.py finds
launch's helpers, script modules are importable by their name, and the module names extensions import exist."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from modules import script_loading

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRINT_FLAGS = ("from modules import shared_cmd_options as s; "
               "print('flags:', getattr(s.cmd_opts, 'ext_greeting', None), getattr(s.cmd_opts, 'ext_other', None))")


def write_extension(data_dir, name: str, files: dict[str, str]) -> str:
    folder = os.path.join(data_dir, "extensions", name)
    for relative, text in files.items():
        path = os.path.join(folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf8") as file:
            file.write(textwrap.dedent(text))
    return folder


def run_webui_python(data_dir, code: str, *argv: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter started as the server starts: its own data dir, argv parsed strictly."""
    env = {**os.environ, "SERENA_DATA_DIR": str(data_dir), "PYTHONPATH": REPO_ROOT}
    env.pop("IGNORE_CMD_ARGS_ERRORS", None)
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def preload_extensions(tmp_path):
    write_extension(tmp_path, "greeter", {"preload.py": """
        def preload(parser):
            parser.add_argument("--ext-greeting", type=str, default="none")
    """})
    write_extension(tmp_path, "broken", {"preload.py": """
        def preload(parser):
            raise RuntimeError("this preload is broken")
    """})
    write_extension(tmp_path, "other", {"preload.py": """
        def preload(parser):
            parser.add_argument("--ext-other", action="store_true")
    """})
    return tmp_path


def test_preload_flags_are_known_when_the_command_line_is_read(preload_extensions):
    finished = run_webui_python(preload_extensions, PRINT_FLAGS, "--ext-greeting", "hello", "--ext-other")
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "flags: hello True" in finished.stdout
    assert "Error running preload() for" in finished.stdout and "broken" in finished.stdout, "reported, then skipped"


def test_a_disabled_extension_is_not_preloaded(preload_extensions):
    (preload_extensions / "config.json").write_text(json.dumps({"disabled_extensions": ["other"]}))
    finished = run_webui_python(preload_extensions, PRINT_FLAGS, "--ext-greeting", "hi")
    assert "flags: hi None" in finished.stdout, finished.stderr[-2000:]
    refused = run_webui_python(preload_extensions, PRINT_FLAGS, "--ext-other")
    assert refused.returncode != 0 and "unrecognized arguments: --ext-other" in refused.stderr


def test_with_all_extensions_disabled_none_is_preloaded(preload_extensions):
    finished = run_webui_python(preload_extensions, PRINT_FLAGS, "--disable-all-extensions")
    assert "flags: None None" in finished.stdout and "broken" not in finished.stdout, finished.stderr[-2000:]


def test_a_script_module_is_importable_by_its_name_and_a_failing_one_is_not(tmp_path):
    good = tmp_path / "ext_button_script.py"
    good.write_text("class FancyButton:\n    pass\n")
    module = script_loading.load_module(str(good))
    try:
        assert sys.modules[module.FancyButton.__module__] is module
    finally:
        del sys.modules["ext_button_script.py"]
    bad = tmp_path / "ext_broken_script.py"
    bad.write_text("raise ValueError('broken at import')\n")
    with pytest.raises(ValueError):
        script_loading.load_module(str(bad))
    assert "ext_broken_script.py" not in sys.modules


INSTALL_PY = """
    import json, os, sys
    import launch
    report = {
        "numpy": launch.is_installed("numpy"),
        "missing": launch.is_installed("no-such-package-serena"),
        "python": launch.python == sys.executable,
        "repo_dir": launch.repo_dir("some-repo"),
        "commit": launch.commit_hash(),
        "tag": launch.git_tag(),
        "run": launch.run(f'"{launch.python}" -c "print(6 * 7)"', "running", "run failed").strip(),
        "pip": "already satisfied" in launch.run_pip("install --no-index --no-deps numpy", "numpy").lower(),
        "index_url": launch.index_url,
    }
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.json"), "w") as file:
        json.dump(report, file)
"""


def test_install_py_finds_launchs_helpers(data_dir):
    from modules import extensions

    folder = write_extension(data_dir, "installer-ext", {"install.py": INSTALL_PY})
    try:
        extensions.run_extension_installers()
        with open(os.path.join(folder, "report.json"), encoding="utf8") as file:
            report = json.load(file)
    finally:
        shutil.rmtree(folder)
        extensions.list_extensions()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    assert report == {"numpy": True, "missing": False, "python": True,
                      "repo_dir": os.path.join(REPO_ROOT, "repositories", "some-repo"), "commit": commit,
                      "tag": report["tag"], "run": "42", "pip": True, "index_url": ""}
    assert report["tag"]


def test_a_failing_run_names_the_command_and_its_output():
    from modules import launch_utils

    with pytest.raises(RuntimeError, match=r"(?s)no luck.*Command: exit 3.*Exit code: 3"):
        launch_utils.run("exit 3", errdesc="no luck")
