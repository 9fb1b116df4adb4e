"""clearance: policy-as-code clearance for ML model versions."""

__version__ = "0.1.0"
