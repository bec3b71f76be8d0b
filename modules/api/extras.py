"""extra-single-image / extra-batch-images: modules.postprocessing with its refusals as API errors."""

from contextlib import contextmanager

from modules import postprocessing
from modules.api.errors import api_error

html_info = postprocessing.html_info


@contextmanager
def refused_as_api_errors():
    try:
        yield
    except postprocessing.PostprocessingError as e:
        raise api_error(e.status, e.field, e.message) from e


def check_request(req) -> None:
    with refused_as_api_errors():
        postprocessing.check_request(req)


def process(image, req):
    with refused_as_api_errors():
        return postprocessing.process(image, req)
