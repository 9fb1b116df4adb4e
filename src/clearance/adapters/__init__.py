"""Adapters: the store, the blob store and signing keys behind the service layer's ports."""
