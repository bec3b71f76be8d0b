"""The command line (cli.py): generations in this process through the job queue, or on a running server."""
