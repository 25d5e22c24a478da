"""smstudio: SageMaker Studio for teams, as code."""

__version__ = "0.1.0"
