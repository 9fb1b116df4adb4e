"""The approval status is built without validation (issue 12.3) only when validation would
change nothing: it equals the validated model field for field, in JSON and in the fields it
records as set, and a requirement of another type (a ``str`` subclass, a ``bool`` count) is
still validated and coerced.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.approvals import Approval, approval_status
from clearance.core.policy import ApprovalRequirement, ApprovalRules
from clearance.core.results import ApprovalStatus, RoleStatus

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
ROLES = ["owner", "risk", "security"]
PEOPLE = ["olivia", "rita", "sam", "tom"]


def _validated(status: ApprovalStatus) -> ApprovalStatus:
    roles = [
        RoleStatus(**{name: getattr(r, name) for name in r.model_fields_set}) for r in status.roles
    ]
    given = {name: getattr(status, name) for name in status.model_fields_set}
    return ApprovalStatus(**{**given, "roles": roles})


def _same_as_validated(status: ApprovalStatus) -> None:
    again = _validated(status)
    assert again == status
    assert again.model_dump_json() == status.model_dump_json()
    assert again.model_fields_set == status.model_fields_set
    for mine, theirs in zip(status.roles, again.roles, strict=True):
        assert mine.model_fields_set == theirs.model_fields_set
        assert list(mine.__dict__) == list(theirs.__dict__)  # declaration order


approvals = st.lists(
    st.builds(
        Approval,
        approver=st.sampled_from(PEOPLE),
        roles=st.lists(st.sampled_from(ROLES), max_size=2),
        verdict=st.sampled_from(["approve", "reject"]),
        at=st.integers(0, 3).map(lambda m: T0 + dt.timedelta(minutes=m)),
    ),
    max_size=5,
)
requirements = st.lists(
    st.builds(ApprovalRequirement, role=st.sampled_from(ROLES), count=st.integers(1, 2)),
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(requirements, approvals, st.booleans(), st.booleans())
def test_the_status_is_what_validation_makes(
    required: list[ApprovalRequirement],
    given_approvals: list[Approval],
    self_approval: bool,
    once: bool,
) -> None:
    rules = ApprovalRules(allow_self_approval=self_approval, one_person_counts_once=once)
    status = approval_status(
        required, given_approvals, rules, requester="rita", evidence_digest=None
    )
    _same_as_validated(status)


def test_a_repeated_role_gets_its_own_list() -> None:
    twice = [ApprovalRequirement(role="owner"), ApprovalRequirement(role="owner")]
    signed = [Approval(approver="olivia", roles=["owner"], at=T0)]
    status = approval_status(twice, signed, ApprovalRules(), requester=None, evidence_digest=None)
    first, second = status.roles
    assert first.approved_by == second.approved_by == ["olivia"]
    assert first.approved_by is not second.approved_by


class Text(str):
    """A ``str`` subclass: validation turns it into a plain ``str``."""


def test_a_requirement_of_another_type_is_validated() -> None:
    odd = ApprovalRequirement.model_construct(role=Text("owner"), count=True)
    status = approval_status([odd], [], ApprovalRules(), requester=None, evidence_digest=None)
    (role,) = status.roles
    assert type(role.role) is str and type(role.required) is int and role.required == 1
    _same_as_validated(status)


def test_a_rejecter_of_another_type_is_validated() -> None:
    fields = {"roles": ["owner"], "verdict": "reject", "at": T0, "evidence_digest": None}
    signed = [Approval.model_construct(approver=Text("sam"), **fields)]
    owner = [ApprovalRequirement(role="owner")]
    status = approval_status(owner, signed, ApprovalRules(), requester=None, evidence_digest=None)
    assert status.rejected_by == ["sam"] and type(status.rejected_by[0]) is str
