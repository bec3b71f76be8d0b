"""Golden requests: fixed generations through the real pipeline, stored or compared across git revisions.

    python -m tools.golden                 check the working tree against test/golden/expected
    python -m tools.golden --against REV   run the same requests at REV and at the working tree, report differences
    python -m tools.golden --update        rewrite test/golden/expected from the working tree (deliberate changes only)
"""
