"""What the Beam SDK container's `boot` program does, for the worker pool of
tests/support/runners.py.

Beam's worker pool starts each SDK worker through a "container executable" with the
worker's id and endpoints. In the SDK container image (what Flink, Spark and Dataflow run,
and what `--environment_type EXTERNAL` pools are made of: `docker run
apache/beam_python3.11_sdk --worker_pool`), that executable is `/opt/apache/beam/boot`: it
asks the runner's provision service for the job's pipeline options, then starts
`sdk_worker_main` with them in PIPELINE_OPTIONS. Without it (`python -c SdkHarness(...)`,
the pool's fallback) workers never see the pipeline options, so `--s3_*` and every other
option would silently not reach them. This script does the same steps as `boot`, minus
installing staged packages (bucketscore is installed in the interpreter, as in the
project's image).

    tests/support/sdk_boot.py --id=W --provision_endpoint=H:P --control_endpoint=H:P \\
        --logging_endpoint=H:P [--artifact_endpoint=H:P]
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str]) -> None:
    import grpc
    from apache_beam.portability.api import (
        beam_provision_api_pb2,
        beam_provision_api_pb2_grpc,
        endpoints_pb2,
    )
    from google.protobuf import json_format, text_format

    parser = argparse.ArgumentParser()
    for name in (
        "id",
        "provision_endpoint",
        "control_endpoint",
        "logging_endpoint",
        "artifact_endpoint",
    ):
        parser.add_argument(f"--{name}", default="")
    args, _unknown = parser.parse_known_args(argv)
    with grpc.insecure_channel(args.provision_endpoint) as channel:
        info = (
            beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
            .GetProvisionInfo(
                beam_provision_api_pb2.GetProvisionInfoRequest(),
                metadata=[("worker_id", args.id)],
                timeout=60,
            )
            .info
        )

    def descriptor(url: str) -> str:
        return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))

    env = dict(os.environ)
    env.update(
        {
            "WORKER_ID": args.id,
            "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
            "CONTROL_API_SERVICE_DESCRIPTOR": descriptor(
                info.control_endpoint.url or args.control_endpoint
            ),
            "LOGGING_API_SERVICE_DESCRIPTOR": descriptor(
                info.logging_endpoint.url or args.logging_endpoint
            ),
            "RUNNER_CAPABILITIES": " ".join(info.runner_capabilities),
        }
    )
    # The pool reads nothing from a worker's stdout (a pipe that would fill): use stderr.
    os.dup2(2, 1)
    os.execve(
        sys.executable, [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"], env
    )


if __name__ == "__main__":
    main(sys.argv[1:])
