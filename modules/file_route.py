"""GET /file=<path>, the links A1111's pages and extensions use: files of the extension folders, the output folders,
the `tmp/` folders (where A1111 extensions leave files for their scripts in the page) and the --gradio-allowed-path
folders, and nothing else (a path that resolves elsewhere, through `..` or a link, is answered as missing)."""

import os

from fastapi import HTTPException
from fastapi.responses import FileResponse

from modules import output_paths, paths_internal


def allowed_roots(opts, cmd_opts) -> list[str]:
    outputs = [paths_internal.resolve_data_relative(getattr(opts, key)) for key in output_paths.PATH_OPTIONS
               if key != "temp_dir" and getattr(opts, key, "")]
    scratch = [os.path.join(paths_internal.data_path, "tmp"), os.path.join(paths_internal.script_path, "tmp")]
    return [paths_internal.extensions_dir, paths_internal.extensions_builtin_dir, paths_internal.default_output_dir,
            *outputs, *scratch, *(cmd_opts.gradio_allowed_path or [])]


def resolve(requested: str, roots: list[str]) -> str | None:
    """The file `requested` names (relative to the data dir, then to the webui's folder, as A1111's relative links
    are), if it is inside one of roots; else None."""
    bases = [requested] if os.path.isabs(requested) else [os.path.join(paths_internal.data_path, requested),
                                                          os.path.join(paths_internal.script_path, requested)]
    for candidate in bases:
        real = os.path.realpath(candidate)
        if os.path.isfile(real) and any(output_paths.is_inside(real, root) for root in roots):
            return real
    return None


def add_route(app, base_path: str, opts, cmd_opts) -> None:
    @app.get(f"{base_path.rstrip('/')}/file={{requested:path}}", include_in_schema=False)
    def serve_file(requested: str):
        found = resolve(requested, allowed_roots(opts, cmd_opts))
        if found is None:
            raise HTTPException(status_code=404, detail=f"file not found: {requested}")
        return FileResponse(found)
