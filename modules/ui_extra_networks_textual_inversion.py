"""The "Textual Inversion" page of the extra networks tabs (A1111's name): a card for each embedding that fits the
loaded model; a click adds its name to the prompt."""

import os

from modules import sd_models, shared, ui_extra_networks
from modules.sd_hijack import model_hijack


class ExtraNetworksPageTextualInversion(ui_extra_networks.ExtraNetworksPage):
    def __init__(self):
        super().__init__("Textual Inversion")

    def refresh(self) -> None:
        sd_models.load_embeddings()

    def create_item(self, name: str, index=None) -> dict | None:
        embedding = model_hijack.embedding_db.word_embeddings.get(name)
        if embedding is None:
            return None
        path = os.path.splitext(embedding.filename)[0]
        return {"name": name, "filename": embedding.filename, "shorthash": embedding.shorthash,
                "preview": self.find_preview(path), "search_terms": [self.search_terms_from_path(embedding.filename)],
                "sort_keys": {"default": index}, "prompt": name}

    def list_items(self):
        for index, name in enumerate(list(model_hijack.embedding_db.word_embeddings)):
            item = self.create_item(name, index)
            if item is not None:
                yield item

    def allowed_directories_for_previews(self) -> list[str]:
        return [shared.cmd_opts.embeddings_dir]
