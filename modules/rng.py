"""A1111 seed semantics: per-image noise from seed + i, variation seeds, seed resize, ENSD generators."""

import torch


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two noise tensors (per batch row), linear when they are parallel."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * (1 - val) + high * val
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


def randn(seed: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    return torch.randn(shape, generator=_generator(seed, device), device=device)


def _paste_centred(noise: torch.Tensor, canvas: torch.Tensor) -> torch.Tensor:
    """Puts `noise` (C, h, w) in the middle of `canvas` (C, H, W), cropping whichever is larger."""
    _, canvas_h, canvas_w = canvas.shape
    _, noise_h, noise_w = noise.shape
    dy, dx = (canvas_h - noise_h) // 2, (canvas_w - noise_w) // 2
    h, w = min(noise_h, canvas_h), min(noise_w, canvas_w)
    canvas_y, canvas_x = max(dy, 0), max(dx, 0)
    noise_y, noise_x = max(-dy, 0), max(-dx, 0)
    canvas[:, canvas_y:canvas_y + h, canvas_x:canvas_x + w] = noise[:, noise_y:noise_y + h, noise_x:noise_x + w]
    return canvas


class ImageRNG:
    """Noise for a batch: image i is drawn exactly as a single generation with seeds[i] would draw it."""

    def __init__(self, shape, seeds, subseeds=None, subseed_strength=0.0, seed_resize_from_h=0,
                 seed_resize_from_w=0, latent_factor=8, device=None, eta_noise_seed_delta=0, to_device=None):
        """device: where the noise is drawn (randn_source); to_device: where the noise it gives goes (the model's
        device), when that is another."""
        self.shape = tuple(int(x) for x in shape)
        self.seeds = [int(s) for s in seeds]
        self.subseeds = [int(s) for s in subseeds] if subseeds else None
        self.subseed_strength = float(subseed_strength or 0.0)
        self.seed_resize_from_h = int(seed_resize_from_h or 0)
        self.seed_resize_from_w = int(seed_resize_from_w or 0)
        self.latent_factor = int(latent_factor)
        self.device = device or torch.device("cpu")
        self.to_device = to_device or self.device
        self.eta_noise_seed_delta = int(eta_noise_seed_delta or 0)
        self.generators: list[torch.Generator] = []
        self.is_first = True

    def _noise_shape(self) -> tuple[int, ...]:
        if self.seed_resize_from_h <= 0 or self.seed_resize_from_w <= 0:
            return self.shape
        return (self.shape[0], self.seed_resize_from_h // self.latent_factor,
                self.seed_resize_from_w // self.latent_factor)

    def _first_noise(self, index: int) -> torch.Tensor:
        seed = self.seeds[index]
        noise_shape = self._noise_shape()
        resized = noise_shape != self.shape
        generator = _generator(seed, self.device)
        noise = randn(seed, noise_shape, self.device) if resized else torch.randn(
            noise_shape, generator=generator, device=self.device)
        if self.subseeds is not None and self.subseed_strength != 0:
            subseed = self.subseeds[index] if index < len(self.subseeds) else 0
            subnoise = randn(subseed, noise_shape, self.device)
            noise = slerp(self.subseed_strength, noise.unsqueeze(0), subnoise.unsqueeze(0))[0]
        if resized:
            canvas = torch.randn(self.shape, generator=generator, device=self.device)
            noise = _paste_centred(noise, canvas)
        if self.eta_noise_seed_delta > 0:
            generator = _generator(seed + self.eta_noise_seed_delta, self.device)
        self.generators.append(generator)
        return noise

    def first(self) -> torch.Tensor:
        """The initial latent noise [B, C, H, W]; also prepares one generator per image for sampler noise."""
        self.generators = []
        return torch.stack([self._first_noise(i) for i in range(len(self.seeds))]).to(self.to_device)

    def next(self) -> torch.Tensor:
        """The first call gives the initial noise; later calls continue each image's generator."""
        if self.is_first:
            self.is_first = False
            return self.first()
        return torch.stack([torch.randn(self.shape, generator=g, device=self.device)
                            for g in self.generators]).to(self.to_device)
