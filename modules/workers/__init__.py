"""Workers beyond the server's own process (Ray actors), behind the same job queue."""
