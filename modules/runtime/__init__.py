"""What a generation runs with, one module a job: options_view (a job's options layers over the base options),
snapshot (the frozen options of one generation), job_state (a job's State and the running jobs), context (the
objects one generation depends on), threads (threads that work on a job's behalf) and runner (the surface every
generation runs through). Nothing here imports modules.processing; the one read of modules.shared is a State's
fallback to shared.opts for live previews outside a generation, as A1111's State has it."""
