"""The REST API (A1111's /sdapi/v1 routes and POST /internal/progress) on the server's FastAPI app."""

import os
from threading import Lock
from typing import Any

from fastapi import FastAPI, Response

from modules import (
    extensions,
    progress,
    scripts,
    sd_hijack,
    sd_models,
    sd_samplers,
    sd_schedulers,
    sd_vae,
    secret_flags,
    shared,
    upscaler,
)
from modules.api import errors, extras, generation, memory, middleware, models, server_control, settings
from modules.api.images_io import decode_base64_to_image, encode_pil_to_base64, encode_to_text
from modules.api.infotext_request import apply_infotext
from modules.images import read_info_from_image
from modules.infotext_utils import parse_generation_parameters
from modules.jobs.queue import JobQueue
from modules.runtime import job_state

# extensions import the image helpers from here, as in A1111
__all__ = ["Api", "decode_base64_to_image", "encode_pil_to_base64"]


def _json_safe(value):
    """Image metadata as JSON: text stays, bytes become text, other values their str()."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value.decode("utf8", errors="replace")
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return str(value)


def _checkpoint_config(filename: str) -> str | None:
    config = os.path.splitext(filename)[0] + ".yaml"
    return config if os.path.isfile(config) else None


def exact_integer_bounds(node):
    """FastAPI's OpenAPI model holds bounds as floats, so an integer's maximum of 2**63 - 1 came out as the float
    2**63: integer bounds are put back as integers (no larger than the largest the API takes)."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for bound in ("minimum", "maximum"):
                if isinstance(node.get(bound), float) and node[bound].is_integer():
                    node[bound] = min(int(node[bound]), models.MAX_SEED)
        for value in node.values():
            exact_integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            exact_integer_bounds(value)
    return node


def _with_exact_integer_bounds(app: FastAPI) -> None:
    make_schema = app.openapi

    def openapi():
        return exact_integer_bounds(make_schema())

    app.openapi = openapi


def add_internal_routes(app: FastAPI, jobs: JobQueue | None) -> None:
    """What the browser UI needs with or without --api: the JSON error shape, --api-log and CORS, and
    POST /internal/progress."""
    errors.install_exception_handlers(app)
    middleware.setup_middleware(app, shared.cmd_opts)
    _with_exact_integer_bounds(app)

    def internal_progress(req: models.InternalProgressRequest):
        return progress.progress_for(req.id_task, req.id_live_preview, req.live_preview, jobs=jobs)

    app.router.add_api_route("/internal/progress", internal_progress, methods=["POST"],
                             response_model=models.InternalProgressResponse, route_class_override=errors.ApiRoute,
                             responses=errors.with_error_responses(None))


INTERROGATORS = ("clip", "deepdanbooru")


class Api:
    """The REST API (/sdapi/v1), mounted with --api or --nowebui, as in A1111."""

    def __init__(self, app: FastAPI, queue_lock: Lock, jobs: JobQueue):
        self.app = app
        self.queue_lock = queue_lock
        self.jobs = jobs
        add_internal_routes(app, jobs)

        post, get = ["POST"], ["GET"]
        self.add_api_route("/sdapi/v1/txt2img", self.text2imgapi, methods=post,
                           response_model=models.TextToImageResponse)
        self.add_api_route("/sdapi/v1/img2img", self.img2imgapi, methods=post,
                           response_model=models.ImageToImageResponse)
        self.add_api_route("/sdapi/v1/extra-single-image", self.extras_single_image_api, methods=post,
                           response_model=models.ExtrasSingleImageResponse)
        self.add_api_route("/sdapi/v1/extra-batch-images", self.extras_batch_images_api, methods=post,
                           response_model=models.ExtrasBatchImagesResponse)
        self.add_api_route("/sdapi/v1/png-info", self.pnginfoapi, methods=post, response_model=models.PNGInfoResponse)
        self.add_api_route("/sdapi/v1/progress", self.progressapi, methods=get, response_model=models.ProgressResponse)
        self.add_api_route("/sdapi/v1/interrupt", self.interruptapi, methods=post)
        self.add_api_route("/sdapi/v1/skip", self.skip, methods=post)
        self.add_api_route("/sdapi/v1/options", self.get_config, methods=get, response_model=None,
                           responses={200: {"model": models.OptionsModel}})
        self.add_api_route("/sdapi/v1/options", self.set_config, methods=post)
        self.add_api_route("/sdapi/v1/cmd-flags", self.get_cmd_flags, methods=get, response_model=dict[str, Any])
        self.add_api_route("/sdapi/v1/samplers", self.get_samplers, methods=get,
                           response_model=list[models.SamplerItem])
        self.add_api_route("/sdapi/v1/schedulers", self.get_schedulers, methods=get,
                           response_model=list[models.SchedulerItem])
        self.add_api_route("/sdapi/v1/upscalers", self.get_upscalers, methods=get,
                           response_model=list[models.UpscalerItem])
        self.add_api_route("/sdapi/v1/latent-upscale-modes", self.get_latent_upscale_modes, methods=get,
                           response_model=list[models.LatentUpscalerModeItem])
        self.add_api_route("/sdapi/v1/sd-models", self.get_sd_models, methods=get,
                           response_model=list[models.SDModelItem])
        self.add_api_route("/sdapi/v1/sd-vae", self.get_sd_vaes, methods=get, response_model=list[models.SDVaeItem])
        self.add_api_route("/sdapi/v1/hypernetworks", self.get_hypernetworks, methods=get,
                           response_model=list[models.HypernetworkItem])
        self.add_api_route("/sdapi/v1/realesrgan-models", self.get_realesrgan_models, methods=get,
                           response_model=list[models.RealesrganItem])
        self.add_api_route("/sdapi/v1/interrogate", self.interrogateapi, methods=post, response_model=None,
                           responses={501: {"model": errors.ErrorResponse,
                                            "description": "No captioning model is included"}})
        self.add_api_route("/sdapi/v1/face-restorers", self.get_face_restorers, methods=get,
                           response_model=list[models.FaceRestorerItem])
        self.add_api_route("/sdapi/v1/prompt-styles", self.get_prompt_styles, methods=get,
                           response_model=list[models.PromptStyleItem])
        self.add_api_route("/sdapi/v1/embeddings", self.get_embeddings, methods=get,
                           response_model=models.EmbeddingsResponse)
        self.add_api_route("/sdapi/v1/refresh-checkpoints", self.refresh_checkpoints, methods=post)
        self.add_api_route("/sdapi/v1/refresh-vae", self.refresh_vae, methods=post)
        self.add_api_route("/sdapi/v1/refresh-embeddings", self.refresh_embeddings, methods=post)
        self.add_api_route("/sdapi/v1/memory", self.get_memory, methods=get, response_model=models.MemoryResponse)
        self.add_api_route("/sdapi/v1/unload-checkpoint", self.unloadapi, methods=post)
        self.add_api_route("/sdapi/v1/reload-checkpoint", self.reloadapi, methods=post)
        self.add_api_route("/sdapi/v1/scripts", self.get_scripts_list, methods=get, response_model=models.ScriptsList)
        self.add_api_route("/sdapi/v1/script-info", self.get_script_info, methods=get,
                           response_model=list[models.ScriptInfo])
        self.add_api_route("/sdapi/v1/extensions", self.get_extensions_list, methods=get,
                           response_model=list[models.ExtensionItem])
        if shared.cmd_opts.api_server_stop:
            self.add_api_route("/sdapi/v1/server-kill", self.kill_webui, methods=post)
            self.add_api_route("/sdapi/v1/server-restart", self.restart_webui, methods=post)
            self.add_api_route("/sdapi/v1/server-stop", self.stop_webui, methods=post)

    def add_api_route(self, path: str, endpoint, **kwargs):
        """Every API route answers unexpected errors with the JSON error shape, documented for every 4xx and 5xx
        (extensions use this too)."""
        kwargs["responses"] = errors.with_error_responses(kwargs.get("responses"))
        return self.app.router.add_api_route(path, endpoint, route_class_override=errors.ApiRoute, **kwargs)

    def text2imgapi(self, txt2imgreq: models.StableDiffusionTxt2ImgProcessingAPI):
        req = apply_infotext(txt2imgreq)
        result = generation.generate(self.jobs, req, generation.check_txt2img(req))
        return models.TextToImageResponse(images=result["images"], parameters=req.model_dump(), info=result["info"])

    def img2imgapi(self, img2imgreq: models.StableDiffusionImg2ImgProcessingAPI):
        req = apply_infotext(img2imgreq)
        result = generation.generate(self.jobs, req, generation.check_img2img(req))
        parameters = req.model_dump()
        if not req.include_init_images:
            parameters["init_images"] = parameters["mask"] = None
        return models.ImageToImageResponse(images=result["images"], parameters=parameters, info=result["info"])

    def extras_single_image_api(self, req: models.ExtrasSingleImageRequest):
        extras.check_request(req)
        image = decode_base64_to_image(req.image, "image")
        with self.queue_lock:
            result, text = extras.process(image, req)
        return models.ExtrasSingleImageResponse(image=encode_to_text(result) if req.show_extras_results else None,
                                                html_info=extras.html_info([text]))

    def extras_batch_images_api(self, req: models.ExtrasBatchImagesRequest):
        extras.check_request(req)
        sources = [decode_base64_to_image(item.data, f"imageList[{i}].data") for i, item in enumerate(req.imageList)]
        with self.queue_lock:
            results = [extras.process(image, req) for image in sources]
        images = [encode_to_text(result) for result, _ in results] if req.show_extras_results else []
        return models.ExtrasBatchImagesResponse(images=images, html_info=extras.html_info([t for _, t in results[:1]]))

    def pnginfoapi(self, req: models.PNGInfoRequest):
        image = decode_base64_to_image(req.image, "image")
        geninfo, items = read_info_from_image(image)
        geninfo = geninfo or ""
        return models.PNGInfoResponse(info=geninfo, items={key: _json_safe(value) for key, value in items.items()},
                                      parameters=parse_generation_parameters(geninfo))

    def progressapi(self, skip_current_image: bool = False, id_task: str | None = None):
        # one job for the whole answer, even if another starts meanwhile: the running one, or the one asked for
        state = shared.state.current() if id_task is None else job_state.running(id_task) or job_state.State()
        if state.job_count == 0:
            return models.ProgressResponse(progress=0, eta_relative=0, state=state.dict(), textinfo=state.textinfo)
        current_image = None
        if not skip_current_image:
            state.set_current_image()
            if state.current_image is not None:
                current_image = encode_to_text(state.current_image)
        return models.ProgressResponse(progress=state.progress(), eta_relative=state.eta_relative() or 0,
                                       state=state.dict(), current_image=current_image, textinfo=state.textinfo)

    def interruptapi(self):
        shared.state.interrupt()
        return {}

    def skip(self):
        shared.state.skip()

    def get_config(self):
        return dict(shared.opts.data)

    def set_config(self, req: dict[str, Any]):
        settings.set_options(req)

    def get_cmd_flags(self):
        return secret_flags.masked_flags(shared.cmd_opts)

    def get_samplers(self):
        return [{"name": s.name, "aliases": s.aliases, "options": s.options} for s in sd_samplers.all_samplers]

    def get_schedulers(self):
        return [{"name": s.name, "label": s.label, "aliases": s.aliases, "default_rho": s.default_rho,
                 "need_inner_model": s.need_inner_model} for s in sd_schedulers.schedulers]

    def get_upscalers(self):
        return [{"name": u.name, "model_name": u.model_name, "model_path": u.model_path, "model_url": u.model_url,
                 "scale": u.scale} for u in shared.sd_upscalers]

    def get_latent_upscale_modes(self):
        return [{"name": name} for name in upscaler.latent_upscale_modes]

    def get_sd_models(self):
        return [{"title": info.title, "model_name": info.model_name, "hash": info.shorthash, "sha256": info.sha256,
                 "filename": info.filename, "config": _checkpoint_config(info.filename)}
                for info in sd_models.listed_checkpoints()]

    def get_sd_vaes(self):
        return [{"model_name": name, "filename": filename} for name, filename in sd_vae.vae_dict.items()]

    def get_hypernetworks(self):
        return []  # hypernetworks are not supported: none is ever loaded

    def get_realesrgan_models(self):
        return []  # no upscaler models are loaded (the upscalers are Lanczos, Nearest and the latent modes)

    def interrogateapi(self, req: models.InterrogateRequest):
        if req.model not in INTERROGATORS:
            raise errors.api_error(404, "model", f"interrogation model not found: {req.model!r}; A1111's models: "
                                                 f"{', '.join(INTERROGATORS)}")
        decode_base64_to_image(req.image, "image")
        raise errors.api_error(501, "model", f"{req.model} interrogation is not available: this webui includes no "
                                             "captioning model (CLIP interrogator, DeepBooru), and none can be added")

    def get_face_restorers(self):
        return [{"name": r.name(), "cmd_dir": getattr(r, "cmd_dir", None)} for r in shared.face_restorers]

    def get_prompt_styles(self):
        if shared.prompt_styles is not None:
            shared.prompt_styles.reload_if_changed()
        styles = shared.prompt_styles.styles.values() if shared.prompt_styles is not None else []
        return [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt} for s in styles]

    def get_embeddings(self):
        database = sd_hijack.model_hijack.embedding_db

        def described(embeddings) -> dict:
            return {embedding.name: {"step": embedding.step, "sd_checkpoint": embedding.sd_checkpoint,
                                     "sd_checkpoint_name": embedding.sd_checkpoint_name, "shape": embedding.shape,
                                     "vectors": embedding.vectors} for embedding in embeddings.values()}

        return {"loaded": described(database.word_embeddings), "skipped": described(database.skipped_embeddings)}

    def refresh_checkpoints(self):
        """Lists the checkpoint folders again; answers the files it skipped, with why (A1111 answers nothing)."""
        with self.queue_lock:
            sd_models.list_models()
        return {"skipped": dict(sd_models.skipped_checkpoints)}

    def refresh_vae(self):
        with self.queue_lock:
            sd_vae.refresh_vae_list()

    def refresh_embeddings(self):
        """Reads the embeddings folder again for the loaded model."""
        with self.queue_lock:
            sd_models.load_embeddings()

    def get_memory(self):
        return models.MemoryResponse(ram=memory.ram_stats(), cuda=memory.cuda_stats())

    def unloadapi(self):
        with self.queue_lock:
            sd_models.unload_model_weights()
        return {}

    def reloadapi(self):
        if not sd_models.checkpoints_list:
            raise errors.api_error(404, None, "no checkpoint found: put a .safetensors file in "
                                              f"{sd_models.checkpoint_search_dirs()[0]}")
        with self.queue_lock:
            sd_models.reload_model_weights()
        return {}

    def get_scripts_list(self):
        """The lower-case titles of every script of each tab, always-on ones included (as A1111 lists them)."""
        listed = {}
        for tab, runner in (("txt2img", scripts.scripts_txt2img), ("img2img", scripts.scripts_img2img)):
            runner.ensure_args_layout()
            listed[tab] = [s.name for s in runner.scripts if s.name is not None]
        return models.ScriptsList(**listed)

    def get_script_info(self):
        info = []
        for runner in (scripts.scripts_txt2img, scripts.scripts_img2img):
            runner.ensure_args_layout()
            info += [script.api_info for script in runner.scripts if script.api_info is not None]
        return info

    def get_extensions_list(self):
        items = []
        for ext in extensions.extensions:
            git = ext.git_info()
            items.append(models.ExtensionItem(name=ext.name, remote=git.remote, branch=git.branch,
                                              commit_hash=git.commit_hash, version=ext.version,
                                              commit_date=str(git.commit_date or ""), enabled=ext.enabled))
        return items

    def kill_webui(self):
        server_control.exit_soon()
        return {}

    def restart_webui(self):
        if not server_control.is_restartable():
            raise errors.api_error(501, None, "restart needs a launcher that restarts the program (webui.sh sets "
                                              "SD_WEBUI_RESTART)")
        server_control.restart()
        return {}

    def stop_webui(self):
        server_control.request_stop()
        return Response("Stopping.")
