"""Image size limits shared by the UI's size sliders and the API's request validation.

32 is the smallest native resolution of a model we ship (serena-demo-shapes); sizes move in steps of 8 as A1111's
do, since SD's VAE makes the latent 1/8 of the image."""

MIN_SIZE = 32
MAX_SIZE = 2048
SIZE_STEP = 8


def fits_sliders(width: int, height: int) -> bool:
    return all(MIN_SIZE <= value <= MAX_SIZE and value % SIZE_STEP == 0 for value in (width, height))
