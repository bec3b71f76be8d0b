"""The test extension under test/fixtures/extensions, as files to put in a data dir's extensions/ folder."""

import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "extensions")
TEST_EXTENSION = "serena-test-extension"


def extension_files(name: str = TEST_EXTENSION) -> dict[str, str]:
    """{path relative to the data dir: text} for every file of the fixture extension."""
    root = os.path.join(FIXTURES, name)
    files = {}
    for folder, _, names in os.walk(root):
        for filename in names:
            if filename.endswith(".pyc"):
                continue
            path = os.path.join(folder, filename)
            with open(path, encoding="utf8") as file:
                files[os.path.join("extensions", name, os.path.relpath(path, root))] = file.read()
    return files
