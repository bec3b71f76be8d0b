"""The generation runtime's seams: the one surface every generation runs through (runner)."""
