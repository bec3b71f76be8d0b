"""What a generation runs with, one module a job: options_view (a job's options layers over the base options),
snapshot (the frozen options of one generation), job_state (a job's State and the running jobs), context (the
objects one generation depends on), threads (threads that work on a job's behalf) and runner (the surface every
generation runs through). Nothing here imports modules.processing or modules.shared: what it works on is handed
to it."""
