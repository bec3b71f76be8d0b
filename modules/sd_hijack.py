"""A1111's sd_hijack names that extensions import. A1111 patches its LDM model in place here; this webui runs
diffusers modules and patches nothing, so hijack / undo_hijack / apply_optimizations do nothing (stated in
docs/extensions.md). What does not depend on the patching is real: the prompt's token count."""

from modules.textual_inversion import textual_inversion


class StableDiffusionModelHijack:
    fixes = None
    layers = None
    circular_enabled = False
    clip = None
    optimization_method = None

    def __init__(self):
        self.comments: list[str] = []
        self.extra_generation_params: dict = {}
        self.embedding_db = textual_inversion.EmbeddingDatabase()
        """A1111's textual inversion embeddings (loaded for the model by sd_models.load_model)"""

    def hijack(self, m) -> None:
        """Nothing to patch on a diffusers model."""

    def undo_hijack(self, m) -> None:
        """Nothing was patched."""

    def apply_optimizations(self, option=None) -> None:
        """Attention runs through torch's scaled_dot_product_attention already."""

    def clear_comments(self) -> None:
        self.comments = []
        self.extra_generation_params = {}

    def get_prompt_lengths(self, text: str) -> tuple[int, int]:
        """(tokens the text takes, tokens its 75-token chunks hold): what the UI's token counter shows."""
        from modules import sd_model_diffusers, sd_text_encoding

        tokenizer = sd_model_diffusers.load_tokenizer()
        chunker = sd_text_encoding.PromptChunker(tokenizer, sd_text_encoding.token_ids_for(tokenizer, False),
                                                 embeddings=self.embedding_db)
        _, token_count = chunker.chunk_line(text)
        return token_count, max(1, -(-token_count // 75)) * 75


model_hijack = StableDiffusionModelHijack()
