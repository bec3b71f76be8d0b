"""Runs capture.py on a source tree (the working tree, or a git revision checked out in a temporary worktree)."""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAPTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capture.py")
EXPECTED_DIR = os.path.join(REPO_ROOT, "test", "golden", "expected")


def make_inpaint_checkpoint(folder: str) -> str:
    """The tiny inpainting checkpoint and, beside it, the tiny LoRA that fits it, written by the current tools so
    both sides of a comparison share them; returns the checkpoint."""
    from tools.golden import cases
    from tools.make_tiny_checkpoint import make_tiny_checkpoint
    from tools.make_tiny_lora import make_tiny_lora

    make_tiny_lora(cases.TINY_LORA_ARCH, os.path.join(folder, cases.TINY_LORA), seed=cases.TINY_LORA_SEED)
    return make_tiny_checkpoint(cases.TINY_INPAINT_ARCH, os.path.join(folder, cases.TINY_INPAINT),
                                seed=cases.TINY_INPAINT_SEED)


def _environment(tree: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "SERENA_DATA_DIR"}
    if os.path.realpath(tree) != os.path.realpath(REPO_ROOT):
        # coverage measures modules/ of this repository only; another tree's files would break the combined report
        env = {key: value for key, value in env.items() if not key.startswith("COVERAGE_")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def start_capture(tree: str, out: str, inpaint_checkpoint: str, cases: list[str] | None = None,
                  threads: int = 1) -> subprocess.Popen:
    args = [sys.executable, CAPTURE, "--out", out, "--inpaint-checkpoint", inpaint_checkpoint,
            "--threads", str(threads)]
    if cases:
        args += ["--cases", *cases]
    log = open(out + ".log", "w", encoding="utf8")  # noqa: SIM115 - closed by finish_capture
    process = subprocess.Popen(args, cwd=tree, env=_environment(tree), stdout=log, stderr=subprocess.STDOUT)
    process.log = log
    return process


def finish_capture(process: subprocess.Popen, out: str) -> None:
    code = process.wait()
    process.log.close()
    if code != 0:
        with open(out + ".log", encoding="utf8", errors="replace") as file:
            tail = file.read()[-4000:]
        raise RuntimeError(f"golden capture in {process.args and out} failed with exit code {code}:\n{tail}")


def capture(tree: str, out: str, inpaint_checkpoint: str, cases: list[str] | None = None, threads: int = 1) -> str:
    finish_capture(start_capture(tree, out, inpaint_checkpoint, cases, threads), out)
    return out


@contextlib.contextmanager
def worktree(rev: str, repo: str = REPO_ROOT):
    """REV checked out (detached) in a temporary git worktree of `repo`, removed afterwards."""
    folder = tempfile.mkdtemp(prefix="serena-golden-rev-")
    os.rmdir(folder)
    subprocess.run(["git", "-C", repo, "worktree", "add", "--detach", "--quiet", folder, rev], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", folder], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def capture_pair(rev: str, work: str, repo: str = REPO_ROOT, tree: str = REPO_ROOT,
                 cases: list[str] | None = None) -> tuple[str, str]:
    """Captures REV (from `repo`) and `tree` side by side, in parallel; returns their capture folders."""
    checkpoint = make_inpaint_checkpoint(os.path.join(work, "checkpoint"))
    before, after = os.path.join(work, "rev"), os.path.join(work, "tree")
    with worktree(rev, repo) as rev_tree:
        processes = [(start_capture(rev_tree, before, checkpoint, cases), before),
                     (start_capture(tree, after, checkpoint, cases), after)]
        for process, out in processes:
            finish_capture(process, out)
    return before, after
