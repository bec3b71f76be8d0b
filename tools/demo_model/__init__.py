"""The embedded demo model: a tiny SD1-layout checkpoint trained here on procedural shapes (issue M03).

Modules: `shapes` (the data set), `text_tokens` (captions -> CLIP token chunks as the webui builds them),
`configs` (the model's diffusers configs), `train_vae` / `train_diffusion` / `train` (training),
`export` (the A1111 single-file checkpoint), `judge` + `evaluate` (prompt accuracy judged from pixels).
"""
