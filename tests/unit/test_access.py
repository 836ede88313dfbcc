"""Access rules as a table: who may read, post and moderate, with no database involved."""

from __future__ import annotations

import pytest

from forum.access import Action, can_moderate, can_read, is_listed, posting_verdict
from forum.errors import NotPermitted
from forum.models import Community, Membership, MemberStatus, PostingPolicy, Role, Visibility


def community(policy: PostingPolicy, visibility: Visibility = Visibility.public) -> Community:
    return Community(slug="housing", name="Housing", posting_policy=policy, visibility=visibility)


def member(role: Role = Role.member, status: MemberStatus = MemberStatus.active) -> Membership:
    return Membership(role=role, status=status)


OUTSIDER = None

VERDICTS = [
    # policy, who, expected
    (PostingPolicy.members, OUTSIDER, Action.refuse),
    (PostingPolicy.members, member(), Action.accept),
    (PostingPolicy.members, member(status=MemberStatus.pending), Action.refuse),
    (PostingPolicy.members, member(status=MemberStatus.banned), Action.refuse),
    (PostingPolicy.moderated, OUTSIDER, Action.hold),
    (PostingPolicy.moderated, member(), Action.hold),
    (PostingPolicy.moderated, member(Role.moderator), Action.accept),
    (PostingPolicy.moderated, member(Role.facilitator), Action.accept),
    (PostingPolicy.moderated, member(status=MemberStatus.banned), Action.refuse),
    (PostingPolicy.open, OUTSIDER, Action.accept),
    (PostingPolicy.open, member(), Action.accept),
    (PostingPolicy.open, member(Role.facilitator, MemberStatus.banned), Action.refuse),
]


@pytest.mark.parametrize(("policy", "membership", "expected"), VERDICTS)
def test_posting_verdict(policy: PostingPolicy, membership: Membership | None, expected: Action) -> None:
    verdict = posting_verdict(community(policy), membership, "ann@example.org")
    assert verdict.action is expected
    if expected is not Action.accept:
        assert verdict.reason, "a refused or held author is told why"


def test_refusal_raises_not_permitted_with_the_reason() -> None:
    verdict = posting_verdict(community(PostingPolicy.members), OUTSIDER, "ann@example.org")
    with pytest.raises(NotPermitted, match=r"ann@example\.org is not a member") as caught:
        verdict.raise_if_refused()
    assert caught.value.smtp_reply.startswith("550 5.7.1 ")


def test_public_refusal_tells_the_outsider_how_to_join() -> None:
    verdict = posting_verdict(community(PostingPolicy.members), OUTSIDER, "ann@example.org")
    assert "housing-subscribe" in verdict.reason


def test_private_refusal_does_not_confirm_the_community_exists() -> None:
    verdict = posting_verdict(community(PostingPolicy.members, Visibility.private), OUTSIDER, "ann@example.org")
    assert verdict.refused
    assert "housing" not in verdict.reason
    assert "subscribe" not in verdict.reason


@pytest.mark.parametrize(
    ("visibility", "membership", "readable"),
    [
        (Visibility.public, OUTSIDER, True),
        (Visibility.private, OUTSIDER, False),
        (Visibility.private, member(status=MemberStatus.pending), False),
        (Visibility.private, member(status=MemberStatus.banned), False),
        (Visibility.private, member(), True),
        (Visibility.restricted, OUTSIDER, False),
        (Visibility.restricted, member(status=MemberStatus.pending), False),
        (Visibility.restricted, member(), True),
    ],
)
def test_can_read(visibility: Visibility, membership: Membership | None, readable: bool) -> None:
    assert can_read(community(PostingPolicy.members, visibility), membership) is readable


@pytest.mark.parametrize(
    ("visibility", "membership", "listed"),
    [
        (Visibility.public, OUTSIDER, True),
        (Visibility.restricted, OUTSIDER, True),
        (Visibility.private, OUTSIDER, False),
        (Visibility.private, member(status=MemberStatus.pending), False),
        (Visibility.private, member(), True),
    ],
)
def test_is_listed(visibility: Visibility, membership: Membership | None, listed: bool) -> None:
    assert is_listed(community(PostingPolicy.members, visibility), membership) is listed


def test_restricted_refusal_names_the_community_it_lists() -> None:
    verdict = posting_verdict(community(PostingPolicy.members, Visibility.restricted), OUTSIDER, "ann@example.org")
    assert verdict.refused and "only members may post to housing" in verdict.reason


@pytest.mark.parametrize(
    ("membership", "moderates"),
    [
        (OUTSIDER, False),
        (member(), False),
        (member(Role.moderator), True),
        (member(Role.facilitator), True),
        (member(Role.facilitator, MemberStatus.banned), False),
        (member(Role.moderator, MemberStatus.pending), False),
    ],
)
def test_can_moderate(membership: Membership | None, moderates: bool) -> None:
    assert can_moderate(membership) is moderates
