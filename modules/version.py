"""The version written into infotexts and shown by the UI."""

version = "v0.1.0"


def program_version() -> str:
    return version
