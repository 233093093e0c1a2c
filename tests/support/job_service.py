"""Beam's local job service, with jobs that use `--direct_num_workers` workers.

`python -m apache_beam.runners.portability.local_job_service_main` runs each job with
`FnApiRunner.run_via_runner_api`, which reads no pipeline option for its number of workers:
every job gets ONE SDK worker, whatever `--direct_num_workers` says (checked on Beam
2.77.0; only `FnApiRunner.run_pipeline` reads it, and a submitted job is a portable graph
that no longer converts back to a Pipeline). The tests want the work spread over several
workers of the external pool, as on Flink or Spark, so this is the same service (Beam's
`LocalJobServicer`, through its `beam_job_type` hook) whose jobs set the runner's worker
count as `run_pipeline` does. Beam internals used (test-only): `BeamJob._invoke_runner`
(the hook a job type overrides), `_provision_info` and `_pipeline_proto` (what the job was
given), `FnApiRunner._num_workers`.

    python tests/support/job_service.py --port N --staging_dir DIR
"""

from __future__ import annotations

import argparse
import sys
import time


def _job_type():
    from apache_beam.options.pipeline_options import DirectOptions
    from apache_beam.portability.api import beam_job_api_pb2
    from apache_beam.runners.portability import local_job_service
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    class MultiWorkerJob(local_job_service.BeamJob):
        def _invoke_runner(self):
            self.set_state(beam_job_api_pb2.JobState.RUNNING)
            options = self.pipeline_options()
            runner = fn_runner.FnApiRunner(provision_info=self._provision_info)
            workers = options.view_as(DirectOptions).direct_num_workers
            # what DirectRunner sets from --direct_num_workers; BeamJob does not
            runner._num_workers = max(1, int(workers or 1))  # noqa: SLF001
            return runner.run_via_runner_api(self._pipeline_proto, options)

    return MultiWorkerJob


def main(argv: list[str]) -> None:
    import logging

    from apache_beam.runners.portability import local_job_service

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--staging_dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    servicer = local_job_service.LocalJobServicer(args.staging_dir, beam_job_type=_job_type())
    port = servicer.start_grpc_server(args.port)
    logging.info("job service listening on localhost:%s", port)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1:])
