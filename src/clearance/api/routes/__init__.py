"""API resources, one router per module; every handler calls one service use case."""
