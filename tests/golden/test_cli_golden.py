"""The CLI's tables and messages, exactly, on a 100-column console without colour.

One workspace lives through a small story (``stories.REGISTRY``: users, a policy, two
versions, sign-offs, a blocked move, a waiver, the audit trail); each golden step's exit
code, stdout and stderr are compared with ``data/cli/<step>.txt``.
"""

from __future__ import annotations

import pytest

from .conftest import DATA, Golden
from .stories import CHECKS, REGISTRY, golden_names


@pytest.mark.parametrize("name", golden_names(REGISTRY))
def test_cli_prints_what_it_printed(name: str, story_texts: dict[str, str], golden: Golden) -> None:
    golden.check(name, story_texts[name])


def test_every_golden_file_belongs_to_a_step() -> None:
    kept = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file()}
    orphans = sorted(kept - set(golden_names(REGISTRY + CHECKS)))
    assert not orphans, f"golden files no step makes any more; delete them: {orphans}"
