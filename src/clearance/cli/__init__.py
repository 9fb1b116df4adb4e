"""The ``clearance`` command line: thin commands over the core and the adapters."""
