"""Jobs: a generation request as a plain value (spec), kept in a durable store (store), handed out in order by the
queue (queue), run by workers (worker) through one builder (builder); the process's one service (service)."""
