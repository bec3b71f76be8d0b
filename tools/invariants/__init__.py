"""Stored snapshots of public surfaces (API schema, options), checked by test/golden, and the check of the option
reads left on the generation path (opts_reads, run by test/quality/test_opts_threading.py); see
docs/architecture/invariants.md."""
