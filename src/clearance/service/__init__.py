"""The service layer: use cases, each one transaction that writes its state and audit events."""
