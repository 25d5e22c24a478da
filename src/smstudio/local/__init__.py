"""The local Studio: what SageMaker provides around an app container, on one machine."""
