"""The SageMaker Studio control plane of the local Studio: the operations moto lacks,
served over SageMaker's own JSON protocol and checked against botocore's service model."""
