"""Stored snapshots of public surfaces (API schema, options), checked by test/golden; see
docs/architecture/invariants.md."""
