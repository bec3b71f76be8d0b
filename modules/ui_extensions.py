"""The Extensions tab: which extensions are installed and enabled, and installing one from a git URL."""

import html

import gradio as gr

from modules import extension_errors, extensions


def extensions_table() -> str:
    rows = []
    for ext in extensions.extensions:
        git = ext.git_info()
        kind = "built-in" if ext.is_builtin else "installed"
        problems = "".join(f"<p class='error'>{html.escape(problem)}</p>"
                           for problem in extension_errors.recorded(ext.path))
        rows.append(f"<tr><td>{html.escape(ext.name)}</td><td>{kind}</td><td>{html.escape(git.remote)}</td>"
                    f"<td>{html.escape(ext.version)}</td><td>{'enabled' if ext.enabled else 'disabled'}</td>"
                    f"<td class='extension_errors'>{problems}</td></tr>")
    return ("<table id='extensions_table'><thead><tr><th>Extension</th><th>Kind</th><th>URL</th><th>Version</th>"
            f"<th>State</th><th>Errors</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def apply_enabled(enabled_names: list[str]) -> str:
    enabled = set(enabled_names or [])
    try:
        disabled = extensions.set_enabled({ext.name: ext.name in enabled for ext in extensions.extensions})
    except extensions.InstallRefused as e:
        return f"<p class='error'>{html.escape(str(e))}</p>"
    listed = ", ".join(disabled) or "none"
    return f"<p>Saved. Disabled extensions: {html.escape(listed)}. Restart the webui to apply.</p>"


def install(url: str, dirname: str) -> str:
    try:
        target = extensions.install_from_url(url, dirname or None)
    except (OSError, ValueError, RuntimeError) as e:
        return f"<p class='error'>{html.escape(str(e))}</p>"
    return f"<p>Installed into {html.escape(target)}. Restart the webui to load it.</p>"


def create_tab() -> None:
    with gr.Tabs(elem_id="tabs_extensions"):
        with gr.Tab("Installed", elem_id="extensions_installed_tab"):
            table = gr.HTML(extensions_table(), elem_id="extensions_installed_html")
            enabled = gr.CheckboxGroup(label="Enabled extensions", elem_id="extensions_enabled",
                                       choices=[ext.name for ext in extensions.extensions],
                                       value=[ext.name for ext in extensions.extensions if ext.enabled])
            apply = gr.Button("Apply", elem_id="extensions_apply", variant="primary")
            status = gr.HTML(elem_id="extensions_status")
            apply.click(fn=apply_enabled, inputs=[enabled], outputs=[status], api_visibility="private")
            apply.click(fn=extensions_table, outputs=[table], api_visibility="private")
        with gr.Tab("Install from URL", elem_id="extensions_install_tab"):
            if not extensions.install_allowed():
                gr.HTML("<p>Installing extensions is disabled: the server is reachable from the network "
                        "(--listen) and --enable-insecure-extension-access is not set.</p>")
            url = gr.Textbox(label="URL for extension's git repository", elem_id="extension_to_install")
            dirname = gr.Textbox(label="Local directory name", placeholder="Leave empty for auto",
                                 elem_id="extension_install_dirname")
            button = gr.Button("Install", elem_id="extension_install_button", variant="primary")
            result = gr.HTML(elem_id="extension_install_result")
            button.click(fn=install, inputs=[url, dirname], outputs=[result], api_visibility="private")
