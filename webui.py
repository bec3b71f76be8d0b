"""Starts the server: the REST API and (unless --nowebui) the Gradio UI on one FastAPI app."""

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from modules import gradio_import  # noqa: E402

gradio_import.skip_stub_writing()

from fastapi import FastAPI, Request  # noqa: E402
from fastapi_offline import FastAPIOffline  # noqa: E402

from modules import initialize, script_callbacks, shared  # noqa: E402


def add_process_time_header(app: FastAPI) -> None:
    @app.middleware("http")
    async def process_time(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Process-Time"] = f"{time.perf_counter() - started:.4f}"
        return response


def create_app() -> FastAPI:
    """The FastAPI app: the REST API with --api or --nowebui (as A1111), the browser UI unless --nowebui, and with
    any auth configured, credentials required everywhere but the UI's login page."""
    from modules.api import api, auth, jobs_api
    from modules.call_queue import queue_lock

    cmd_opts = shared.cmd_opts
    job_service = start_jobs(queue_lock)
    jobs = job_service.queue
    # /docs and /redoc with their scripts and styles served from the fastapi-offline package, not a CDN
    app = FastAPIOffline(title="Serena webui", docs_url="/docs", redoc_url="/redoc")
    add_process_time_header(app)
    if cmd_opts.api or cmd_opts.nowebui:
        api.Api(app, queue_lock, jobs)
        jobs_api.add_routes(app, job_service)
    else:
        api.add_internal_routes(app, jobs)
    ui_mount_path = None
    if cmd_opts.nowebui:
        initialize.register_options_without_ui()
    else:
        from modules import ui

        app = ui.mount(app, jobs)
        ui_mount_path = ui.mount_path()
    script_callbacks.app_started_callback(shared.demo, app)
    keep_mounts_last(app)
    auth.protect_server(app, cmd_opts, ui_mount_path)
    return app


def start_jobs(generation_lock):
    """The job service in the data dir: its worker generating here under the generation lock, or with
    --ray-address, workers on a Ray cluster."""
    from modules import paths_internal
    from modules.jobs import service

    return service.start(paths_internal.data_path, initialize.job_environment(generation_lock),
                         retention_days=lambda: shared.cmd_opts.jobs_history_days,
                         checkpoint_name=initialize.checkpoint_name, **ray_workers(shared.cmd_opts))


def ray_workers(cmd_opts) -> dict:
    """With --ray-address: no worker in this process, --ray-workers on the cluster (service.create's arguments)."""
    if not cmd_opts.ray_address:
        return {}
    from modules import paths_internal

    if cmd_opts.ray_workers < 1 or cmd_opts.ray_gpus_per_worker < 0:
        raise SystemExit("--ray-workers must be at least 1 and --ray-gpus-per-worker at least 0")
    try:
        from modules.workers import ray_backend
    except ImportError as e:
        raise SystemExit(f"--ray-address needs Ray ({e}): pip install -r requirements_ray.txt") from e
    from modules import shared_cmd_options
    from modules.workers import engine_flags

    def remote_workers(jobs):
        return ray_backend.workers(jobs, cmd_opts.ray_address, cmd_opts.ray_workers, cmd_opts.ray_gpus_per_worker,
                                   paths_internal.data_path, paths_internal.script_path,
                                   options=lambda: dict(shared.opts.data), live_options=shared.opts,
                                   engine_flags=engine_flags.for_ray_worker(engine_flags.for_worker(
                                       shared_cmd_options.parser, cmd_opts), cmd_opts.ray_gpus_per_worker))

    return {"workers": 0, "remote_workers": remote_workers}


def keep_mounts_last(app: FastAPI) -> None:
    """Routes that extensions add in app_started go before the UI's mount at "/", which would otherwise answer them."""
    from starlette.routing import Mount

    routes = app.router.routes
    routes[:] = [r for r in routes if not isinstance(r, Mount)] + [r for r in routes if isinstance(r, Mount)]


def server_address() -> tuple[str, int]:
    cmd_opts = shared.cmd_opts
    host = cmd_opts.server_name or ("0.0.0.0" if cmd_opts.listen else "127.0.0.1")
    port = cmd_opts.port or (7861 if cmd_opts.nowebui else 7860)
    return host, port


def serve(app: FastAPI, host: str, port: int) -> None:
    """Runs uvicorn until Ctrl+C or a stop request (POST /sdapi/v1/server-stop sets state.server_command)."""
    import threading

    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, ssl_keyfile=shared.cmd_opts.tls_keyfile,
                            ssl_certfile=shared.cmd_opts.tls_certfile,
                            timeout_keep_alive=shared.cmd_opts.timeout_keep_alive, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            if shared.state.wait_for_server_command(timeout=0.5) == "stop":
                print("Stopping server on request")
                break
    except KeyboardInterrupt:
        print("Interrupted, stopping server")
    server.should_exit = True
    thread.join(timeout=10)


def webui() -> None:
    started = time.perf_counter()
    if shared.cmd_opts.dump_sysinfo:
        from modules import sysinfo

        print(f"Sysinfo saved as {sysinfo.dump(shared.cmd_opts)}. Exiting...")
        return
    initialize.initialize()
    app = create_app()
    host, port = server_address()
    print(f"Running on http://{host}:{port}")
    print(f"Startup time: {time.perf_counter() - started:.1f}s")
    if shared.cmd_opts.autolaunch and not shared.cmd_opts.nowebui:
        import webbrowser

        from modules import ui

        webbrowser.open(f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}{ui.mount_path()}")
    serve(app, host, port)


if __name__ == "__main__":
    webui()
