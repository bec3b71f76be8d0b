"""The generation runtime: runner.ProcessingRunner, the surface every generation runs through."""
