"""MLflow, behind the service's ``MlflowPort`` (``clearance.service.mlflow_port``).

Installed with ``pip install 'clearance[mlflow]'``; importing this package without MLflow
raises an ``InputError`` that says so. ``MlflowRegistry`` is the only module that imports
MLflow: the service and the core never do.
"""

from clearance.adapters.mlflow.registry import MlflowRegistry, mlflow_governance

__all__ = ["MlflowRegistry", "mlflow_governance"]
