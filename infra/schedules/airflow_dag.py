"""Airflow DAG: score a bucket every night with the bucketscore Flex Template on Dataflow.

Needs apache-airflow-providers-google (DataflowStartFlexTemplateOperator, GCS sensor) and a
Google Cloud connection (`google_cloud_default`) allowed to launch Dataflow jobs. Copy this
file into the DAGs folder and edit the constants below.

Each DAG run (one per night) launches one Dataflow job and waits for it; the run id is the
logical date (`nightly-YYYYMMDD`), so clearing and re-running a night replaces that night's
results instead of adding a second run. A second task checks that the run completed (its
`_SUCCESS` exists): a job that ends without it fails the DAG run.

Parameters (PARAMETERS: `bucketscore score` options by name, all listed in
infra/flex_template/metadata.json; ENVIRONMENT: the Dataflow workers):
    input, output, model, labels, top_k, min_confidence, max_error_ratio: as for
        `bucketscore score` (input: several URIs separated by spaces)
    run_id: the results folder under output, from the logical date
    incremental: "true": score only images new or changed since the last completed run
        with the same model version (the others keep their predictions)
    dataflow_service_options: GPU workers, e.g.
        "worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver"
        (use GPU_ENVIRONMENT: a GPU machine type and the GPU image, infra/README.md)
    machineType, numWorkers, maxWorkers, diskSizeGb, sdkContainerImage, tempLocation,
    stagingLocation, serviceAccountEmail: FlexTemplateRuntimeEnvironment fields
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG
from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator
from airflow.providers.google.cloud.sensors.gcs import GCSObjectExistenceSensor

PROJECT = "my-project"
REGION = "europe-west1"
TEMPLATE = "gs://my-dataflow/templates/bucketscore-score.json"
IMAGE = "europe-west1-docker.pkg.dev/my-project/bucketscore/bucketscore:0.1.0"
RESULTS_BUCKET = "my-results"
RESULTS_PREFIX = "nightly"
RUN_ID = "nightly-{{ ds_nodash }}"

PARAMETERS = {
    "input": "gs://my-images/incoming/",
    "output": "gs://my-results/nightly/",
    "model": "gs://my-models/cartoons/v3",
    "labels": "folder",
    "top_k": "5",
    "min_confidence": "0.0",
    "max_error_ratio": "0.05",
    "run_id": RUN_ID,
    "incremental": "true",
}

ENVIRONMENT = {
    "machineType": "n1-standard-4",
    "numWorkers": 2,
    "maxWorkers": 20,
    "diskSizeGb": 50,
    "sdkContainerImage": IMAGE,
    "tempLocation": "gs://my-dataflow/tmp",
    "stagingLocation": "gs://my-dataflow/staging",
    "serviceAccountEmail": "bucketscore-worker@my-project.iam.gserviceaccount.com",
    "additionalUserLabels": {"app": "bucketscore", "schedule": "nightly"},
}

# For GPU workers: PARAMETERS | GPU_PARAMETERS and GPU_ENVIRONMENT (image built with
# --build-arg ACCELERATOR=gpu: TensorFlow and ONNX Runtime with CUDA).
GPU_PARAMETERS = {
    "dataflow_service_options": (
        "worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver"
    ),
    "number_of_worker_harness_threads": "1",
    "batch_size": "64",
}
GPU_ENVIRONMENT = dict(
    ENVIRONMENT,
    machineType="n1-standard-8",
    maxWorkers=4,
    diskSizeGb=100,
    sdkContainerImage="europe-west1-docker.pkg.dev/my-project/bucketscore/bucketscore-gpu:0.1.0",
)

with DAG(
    dag_id="bucketscore_nightly",
    description="Score gs://my-images/incoming/ with bucketscore on Dataflow",
    schedule="0 3 * * *",
    start_date=dt.datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 0},
    tags=["bucketscore", "dataflow"],
) as dag:
    score = DataflowStartFlexTemplateOperator(
        task_id="score",
        project_id=PROJECT,
        location=REGION,
        body={
            "launchParameter": {
                "jobName": "bucketscore-{{ ds_nodash }}",
                "containerSpecGcsPath": TEMPLATE,
                "parameters": PARAMETERS,
                "environment": ENVIRONMENT,
            }
        },
        wait_until_finished=True,
        append_job_name=True,
    )

    completed = GCSObjectExistenceSensor(
        task_id="run_completed",
        bucket=RESULTS_BUCKET,
        object=RESULTS_PREFIX + "/" + RUN_ID + "/_SUCCESS",
        timeout=600,
        poke_interval=60,
        mode="reschedule",
    )

    score >> completed
