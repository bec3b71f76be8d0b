"""Generations in this process: the engine started as the server starts it (options, extensions, scripts, the
checkpoint list; the model loads with the first job), each body checked as /sdapi/v1 checks it, then run as a job
by a local worker through the same queue, runner and saving as the server's.

The jobs go to a queue database of this run's own (a temporary folder), so a server using the same data dir never
takes, recovers or lists them; images, settings, models and styles are the data dir's."""

import dataclasses
import os
import shutil
import tempfile

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from modules import call_queue, initialize, shared
from modules.api import errors, jobs_api
from modules.api.infotext_request import apply_infotext
from modules.cli.arguments import InputError
from modules.cli.request_bodies import Body
from modules.jobs import failures, live, service
from modules.jobs.queue import PRIORITY_INTERACTIVE, Outcome
from modules.jobs.spec import GenerationSpec

POLL_S = 0.1


class JobFailed(Exception):
    def __init__(self, failure: failures.Failure):
        super().__init__(failure.message)
        self.failure = failure


def refusal(body: Body, error: Exception) -> InputError:
    """A refused request as the command line's input error, naming the flag (or the file line and field)."""
    if isinstance(error, ValidationError | RequestValidationError):
        first = error.errors()[0]
        return body.refuse(errors.field_name(first["loc"]), first["msg"])
    field, message = getattr(error, "field", None), getattr(error, "message", str(error))
    return body.refuse(field, message) if field else InputError(f"{body.label + ': ' if body.label else ''}{message}")


class LocalRunner:
    def __init__(self, out_dir: str | None = None):
        initialize.initialize(load_model=False)
        initialize.register_options_without_ui()
        if out_dir:  # the owner's own choice, as config.json is: not held to the server's data dir
            for key in ("outdir_samples", "outdir_grids"):
                shared.opts.data[key] = os.path.abspath(out_dir)
        self._folder = tempfile.mkdtemp(prefix="serena-cli-jobs-")
        self.service = service.create(os.path.join(self._folder, service.DATABASE_NAME),
                                      initialize.job_environment(call_queue.queue_lock))
        self.queue = self.service.queue

    def check(self, body: Body) -> GenerationSpec:
        """The body as a spec, checked as /sdapi/v1 checks it (an unknown field, sampler, checkpoint or script
        argument is refused here, before any model loads)."""
        try:
            request = jobs_api.REQUEST_MODELS[body.mode].model_validate(body.fields)
            spec = jobs_api.CHECKS[body.mode](apply_infotext(request))
        except (ValidationError, RequestValidationError, HTTPException) as e:
            raise refusal(body, e) from e
        return dataclasses.replace(spec, source="cli")

    def submit(self, spec: GenerationSpec) -> str:
        job, _ = self.queue.submit(spec, PRIORITY_INTERACTIVE, wait=True)
        return job.id

    def wait(self, job_id: str, spec: GenerationSpec, on_progress) -> Outcome:
        """Blocks until the job ends, calling on_progress({step, steps, fraction, eta_s}) as it moves; a job that
        failed raises JobFailed (status < 500: the input was refused at run time)."""
        while not self.queue.wait_until_done(job_id, POLL_S):
            numbers = live.progress(job_id)
            if numbers is not None:
                on_progress(numbers)
        outcome = self.queue.wait(job_id)
        if outcome.error is not None:
            raise JobFailed(failures.describe(outcome.error, spec))
        return outcome

    def cancel(self, job_id: str, timeout: float) -> bool:
        """Interrupts the job (a queued one never starts); True once it has ended within timeout."""
        self.queue.cancel(job_id)
        return self.queue.wait_until_done(job_id, timeout)

    def close(self):
        self.service.stop()
        shutil.rmtree(self._folder, ignore_errors=True)
