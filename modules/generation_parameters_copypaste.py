"""A1111's old name for infotext_utils, still imported by extensions: the same module object under both names."""

import sys

from modules import infotext_utils

sys.modules[__name__] = infotext_utils
