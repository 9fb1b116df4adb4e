"""Adapters: the outside world behind the ports the service layer and the gates declare.

The store, the blob store and signing keys; the clock; evidence readers (local files, the
blob store) and the latency meter; the notification senders and outbox stores.
"""
