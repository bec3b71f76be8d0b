"""cli.py: reads the command line, then generates in this process or on --server, or manages a server's jobs.

Exit codes: 0 done, 1 error, 2 bad input (the message names the flag), 3 interrupted (Ctrl+C)."""

import contextlib
import os
import sys
import time

from modules import gradio_import
from modules.cli import arguments, request_bodies
from modules.cli.arguments import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, InputError

CANCEL_WAIT_S = 60


def engine_argv(args) -> list[str]:
    """The engine's own command line (modules.shared_cmd_options reads sys.argv when first imported): the data dir,
    and no per-sampling console bar (the command shows one for the whole job)."""
    return [sys.argv[0], *(["--data-dir", args.data_dir] if args.data_dir else []), "--disable-console-progressbars"]


def check_combinations(args) -> None:
    """Flags that would be ignored are refused; folders the command writes to must be folders."""
    if args.server:
        if not args.server.startswith(("http://", "https://")):
            raise InputError(f"--server: expected http(s)://HOST:PORT, got {args.server!r}")
        if args.data_dir:
            raise InputError("--data-dir: with --server the server's own data dir is used")
        return
    for flag, value in (("--api-auth", args.api_auth), ("--priority", getattr(args, "priority", None))):
        if value is not None:
            raise InputError(f"{flag}: only with --server (this process runs its jobs one after another)")
    for flag, folder in (("--data-dir", args.data_dir), ("--out", getattr(args, "out", None))):
        if folder is not None:
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as e:
                raise InputError(f"{flag}: cannot use {folder!r} as a folder: {e.strerror or e}") from e


def bodies_of(args) -> list[request_bodies.Body]:
    if args.command == "run":
        return request_bodies.from_file(args.file)
    if args.command == "infotext":
        return [request_bodies.from_infotext(args)]
    return [request_bodies.from_flags(args, args.command)]


def with_defaults(body: request_bodies.Body, args) -> request_bodies.Body:
    """Images are saved where the server saves them; on a server, returned when --out wants them here."""
    body.fields.setdefault("save_images", True)
    if args.server and args.out:
        body.fields["send_images"] = True
    else:
        body.fields.setdefault("send_images", False)
    return body


def job_label(number: int, count: int, body: request_bodies.Body) -> str:
    return f"{body.mode} {number}/{count}" if count > 1 else body.mode


def failure_exit(results: list[dict]) -> int:
    statuses = [result["error"].get("status", 500) for result in results if result.get("error")]
    if not statuses:
        return EXIT_OK
    return EXIT_BAD_INPUT if all(status < 500 for status in statuses) else EXIT_ERROR


def failed_result(job_id: str, body, failure) -> dict:
    """A failed job's report; a refusal that names a field names its flag (or file line) as the input errors do."""
    from modules.cli.report import job_result

    error = failure.as_dict()
    if failure.status < 500 and failure.field:
        error["message"] = str(body.refuse(failure.field, failure.message))
    return job_result(job_id, body.label, None, "failed", error)


def cancel_quietly(cancel, job_ids: list[str]) -> None:
    """Cancels the jobs, the last submitted (still queued) first, so none starts meanwhile; one that has just ended
    is left as it is."""
    with contextlib.suppress(KeyboardInterrupt):
        for job_id in reversed(job_ids):
            try:
                cancel(job_id)
            except Exception as e:  # noqa: BLE001 (it ended meanwhile, or the server went away)
                print(f"could not cancel {job_id}: {e}", file=sys.stderr)


def cancel_on_server(client, job_ids: list[str]) -> None:
    """Cancels the jobs, then waits for them to end (CANCEL_WAIT_S for all, as the local runner waits), so that none
    is still running when the command exits."""
    cancel_quietly(client.cancel, job_ids)
    deadline = time.monotonic() + CANCEL_WAIT_S
    with contextlib.suppress(KeyboardInterrupt):
        for job_id in job_ids:
            try:
                client.wait(job_id, timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 (the server went away: nothing is left to wait for)
                return


def generate_here(args, bodies, stdout) -> int:
    from modules.cli.local_runner import JobFailed, LocalRunner
    from modules.cli.progress import ProgressDisplay
    from modules.cli.report import job_result, print_results

    runner = LocalRunner(args.out)
    results, pending = [], []
    try:
        specs = [runner.check(body) for body in bodies]
        for spec, body in zip(specs, bodies, strict=True):
            pending.append((runner.submit(spec), spec, body))
        for number, (job_id, spec, body) in enumerate(list(pending), start=1):
            display = ProgressDisplay(job_label(number, len(bodies), body))
            try:
                outcome = runner.wait(job_id, spec, display.update)
                pending.pop(0)
                results.append(job_result(job_id, body.label, outcome.value))
            except JobFailed as e:
                pending.pop(0)
                results.append(failed_result(job_id, body, e.failure))
            finally:
                display.close()
    except KeyboardInterrupt:
        print("Interrupted: cancelling", file=sys.stderr, flush=True)
        cancel_quietly(lambda job_id: runner.cancel(job_id, CANCEL_WAIT_S), [job_id for job_id, _, _ in pending])
        print_results(results, args.json, stdout, sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        runner.close()
    print_results(results, args.json, stdout, sys.stderr)
    return failure_exit(results)


def generate_on_server(args, bodies, stdout) -> int:
    from modules.cli.progress import ProgressDisplay
    from modules.cli.report import job_result, print_results, write_images
    from modules.cli.server_client import ServerClient

    client = ServerClient(args.server, args.api_auth)
    job_ids, results = [], []
    try:
        try:
            for body in bodies:
                job_ids.append(client.submit(body, args.priority))
        except InputError:
            cancel_on_server(client, job_ids)  # a file runs whole or not at all
            raise
        for number, (job_id, body) in enumerate(zip(job_ids, bodies, strict=True), start=1):
            display = ProgressDisplay(job_label(number, len(bodies), body))
            try:
                job = client.wait(job_id, display.update)
            finally:
                display.close()
            stored = client.result(job_id) if job["state"] == "succeeded" else None
            written = write_images(stored["images"], args.out, job_id) if stored and args.out else None
            results.append(job_result(job_id, body.label, stored, job["state"], job.get("error"),
                                      job.get("saved_files"), written))
    except KeyboardInterrupt:
        print("Interrupted: cancelling on the server", file=sys.stderr, flush=True)
        cancel_on_server(client, job_ids[len(results):])
        print_results(results, args.json, stdout, sys.stderr)
        return EXIT_INTERRUPTED
    print_results(results, args.json, stdout, sys.stderr)
    if any(result["state"] == "cancelled" for result in results):
        return EXIT_ERROR
    return failure_exit(results)


def manage_jobs(args, stdout) -> int:
    from modules.cli.progress import ProgressDisplay
    from modules.cli.report import print_jobs
    from modules.cli.server_client import ServerClient

    if not args.server:
        raise InputError("--server: jobs talks to a running server: give its URL, e.g. --server http://127.0.0.1:7860")
    client = ServerClient(args.server, args.api_auth)
    if args.jobs_command == "list":
        print_jobs(client.jobs(args.state, args.limit), args.json, stdout)
        return EXIT_OK
    if args.jobs_command == "cancel":
        job = client.cancel(args.job_id)
    elif args.jobs_command == "wait":
        display = ProgressDisplay(args.job_id)
        try:
            job = client.wait(args.job_id, display.update)
        finally:
            display.close()
    else:
        job = client.job(args.job_id)
    print_jobs([job], args.json, stdout)
    return EXIT_ERROR if args.jobs_command == "wait" and job["state"] != "succeeded" else EXIT_OK


def request_fields(mode: str) -> set[str]:
    from modules.api import models

    request = models.StableDiffusionTxt2ImgProcessingAPI if mode == "txt2img" else \
        models.StableDiffusionImg2ImgProcessingAPI
    return set(request.model_fields)


def dispatch(args, stdout) -> int:
    if args.command == "jobs":
        return manage_jobs(args, stdout)
    bodies = [with_defaults(body, args) for body in bodies_of(args)]
    for body in bodies:
        request_bodies.check_fields(body, request_fields(body.mode), lambda text: print(text, file=sys.stderr))
    if args.server:
        return generate_on_server(args, bodies, stdout)
    return generate_here(args, bodies, stdout)


def main(argv: list[str]) -> int:
    try:
        args = arguments.build_parser().parse_args(argv)
    except InputError as e:
        print(f"cli.py: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else EXIT_OK
    stdout = sys.stdout
    try:
        check_combinations(args)
    except InputError as e:
        print(f"cli.py: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.data_dir:
        os.environ["SERENA_DATA_DIR"] = os.path.abspath(args.data_dir)  # the variable would win over --data-dir
    sys.argv = engine_argv(args)
    gradio_import.skip_stub_writing()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # what the engine prints is not the command's output
            return dispatch(args, stdout)
    except InputError as e:
        print(f"cli.py: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("Interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 (the command's last word: what failed, and exit 1)
        print(f"cli.py: error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR
