"""The public surface is exactly ``__all__``, and every name in it resolves."""

import clearance


def test_all_names_resolve() -> None:
    for name in clearance.__all__:
        assert hasattr(clearance, name), name


def test_all_is_complete() -> None:
    public = {n for n in dir(clearance) if not n.startswith("_") or n == "__version__"}
    modules = {n for n in public if type(getattr(clearance, n)).__name__ == "module"}
    assert public - modules == set(clearance.__all__)
