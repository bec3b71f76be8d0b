"""Serena webui on the command line: python cli.py txt2img --prompt "a cat" (see python cli.py --help)."""

import logging
import os
import sys

from modules.cli.main import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)  # everything is closed and written by now: skip the interpreter's slow teardown of the engine
