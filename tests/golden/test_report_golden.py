"""``clearance check`` on the examples: its table and the Markdown and JUnit reports, exactly.

Every outcome (needs approval, deny), an emergency change (skipped gates, other approvers)
and data gates with their worst columns and groups (``stories.CHECKS``); ``--now`` fixes the
time the reports carry.
"""

from __future__ import annotations

import pytest

from .conftest import Golden
from .stories import CHECKS, golden_names


@pytest.mark.parametrize("name", golden_names(CHECKS))
def test_check_and_reports_read_as_before(
    name: str, story_texts: dict[str, str], golden: Golden
) -> None:
    golden.check(name, story_texts[name])
