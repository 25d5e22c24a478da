"""Data science image: SDK, pandas, Spark and MLflow work out of the box."""

from __future__ import annotations

from tests.helpers import TrackedContainers, sh

IMAGE = "datascience"

SCRIPT = r"""
import sagemaker, pandas, mlflow
from pyspark.sql import SparkSession
assert sagemaker.__version__.startswith("2."), sagemaker.__version__
spark = SparkSession.builder.master("local[1]").appName("smoke").getOrCreate()
frame = spark.createDataFrame(pandas.DataFrame({"x": [1, 2, 3]}))
print("spark-sum", frame.groupBy().sum("x").collect()[0][0])
spark.stop()
mlflow.set_tracking_uri("sqlite:////tmp/mlflow.db")
with mlflow.start_run() as run:
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("rmse", 0.25)
found = mlflow.search_runs(experiment_ids=["0"])
print("mlflow-rmse", found.loc[0, "metrics.rmse"], found.loc[0, "run_id"] == run.info.run_id)
"""


def test_spark_session_and_mlflow_run(image: str, containers: TrackedContainers) -> None:
    box = containers.sleeper(image, tmpfs={"/home/sagemaker-user": "uid=1000,gid=100"})
    code, output = sh(box, f"cd ~ && python - <<'EOF'\n{SCRIPT}\nEOF")
    assert code == 0, output
    assert "spark-sum 6" in output
    assert "mlflow-rmse 0.25 True" in output


def test_java_runtime_for_spark(image: str, containers: TrackedContainers) -> None:
    code, output = sh(containers.sleeper(image), "java -version 2>&1")
    assert code == 0 and "17." in output
