"""Group policies: validation, versioning, precedence, and the Policy message a device gets."""

from dataclasses import replace
from datetime import timedelta

import pytest

from collector.directory.importers import import_inventory, import_people
from collector.directory.policies import (
    EffectivePolicy,
    GroupPolicy,
    PolicyError,
    PolicySpec,
    from_proto,
    resolve_policy,
    spec_from_mapping,
)
from collector.directory.store import DirectoryError, DirectoryStore
from collector.store import SqlStore
from lantern.v1 import lantern_pb2 as pb
from tests.collector.directory.conftest import EXAMPLES, NOW, enrol

BASE = pb.Policy(
    version=1,
    notice_text="This device is monitored.",
    excluded_apps=["KeePassXC"],
    capture_typed=True,
    capture_titles=True,
    heartbeat_seconds=30,
)


def gp(name: str, version: int = 1, **spec: object) -> GroupPolicy:
    return GroupPolicy(name, version, PolicySpec(**spec).validated(), "it", NOW)  # type: ignore[arg-type]


def test_precedence_priority_then_device_before_person_then_name() -> None:
    base = from_proto(BASE)
    result = resolve_policy(
        base,
        [
            (
                gp(
                    "staff_devices",
                    notice_text="Staff device",
                    capture_typed=False,
                    excluded_apps=["outlook"],
                ),
                "device",
            ),
            (gp("adult_learners", notice_text="Adult learners", min_severity={"*": 4}), "person"),
            (
                gp("apprentices", priority=5, heartbeat_seconds=60, excluded_apps=["payroll"]),
                "person",
            ),
        ],
    )
    # Equal priority: the person group goes after the device group, so its notice wins.
    assert result.notice_text == "Adult learners"
    assert result.capture_typed is False  # set by the device group, not overridden
    assert result.capture_titles is True and result.heartbeat_seconds == 60
    assert result.excluded_apps == ("keepassxc", "outlook", "payroll")  # exclusions always add up
    assert [a.group_name for a in result.applied] == [
        "staff_devices",
        "adult_learners",
        "apprentices",
    ]
    assert result.min_severity_for("suicide", default=3) == 4
    assert result.monitors("gambling")


def test_version_follows_content_and_empty_category_lists_are_not_all() -> None:
    base = from_proto(BASE)
    same = resolve_policy(base, [(gp("a", notice_text="x"), "device")])
    again = resolve_policy(base, [(gp("b", version=7, notice_text="x"), "person")])
    other = resolve_policy(base, [(gp("a", notice_text="y"), "device")])
    assert same.version == again.version != other.version > 0
    assert base.to_proto().categories == []
    assert replace(base, categories=()).to_proto().categories == ["none"]
    assert replace(base, categories=("suicide",)).to_proto().categories == ["suicide"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"categories": ["suicide", "knitting"]}, "unknown categories: knitting"),
        ({"min_severity": {"suicide": 9}}, "must be 1-5"),
        ({"notice_text": "  "}, "cannot be empty"),
        ({"heartbeat_seconds": 1}, "heartbeat_seconds"),
        ({"capture_everything": True}, "unknown policy settings"),
        ({"categories": "suicide"}, "must be a list"),
        ({"capture_typed": "no"}, "capture_typed must be true or false"),
        ({"heartbeat_seconds": "60"}, "heartbeat_seconds must be a whole number"),
        ({"priority": 1.5}, "priority must be a whole number"),
    ],
)
def test_invalid_policies_are_refused_with_a_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        spec_from_mapping(data)


def test_policies_are_versioned_and_deletable(directory: DirectoryStore) -> None:
    first = directory.put_policy(
        "Adult Learners", PolicySpec(notice_text="v1"), actor="it@c", now=NOW
    )
    second = directory.put_policy(
        "adult_learners", PolicySpec(notice_text="v2"), actor="it@c", now=NOW
    )
    assert (first.group_name, first.version, second.version) == ("adult_learners", 1, 2)
    current = directory.current_policy("adult learners")
    assert current is not None and current.spec.notice_text == "v2"
    directory.delete_policy("adult_learners", actor="it@c", now=NOW)
    assert directory.current_policy("adult_learners") is None
    assert [p.version for p in directory.policy_history("adult_learners")] == [3, 2, 1]
    assert directory.list_policies() == []
    with pytest.raises(DirectoryError):
        directory.delete_policy("adult_learners", actor="it@c")
    actions = [a.action for a in directory.audit_log()][:3]
    assert actions == ["policy.deleted", "policy.changed", "policy.changed"]


def test_policy_for_device_combines_device_and_user_groups(
    store: SqlStore, directory: DirectoryStore
) -> None:
    import_people(
        directory,
        (EXAMPLES / "mis.csv").read_bytes(),
        "mis",
        EXAMPLES / "mapping-mis.yaml",
        now=NOW,
    )
    import_inventory(directory, (EXAMPLES / "devices.csv").read_bytes(), now=NOW)
    laptop = enrol(store, "LAPTOP-0193", "PF3XK2Q1", group="Year 12")
    directory.put_policy("student_laptops", PolicySpec(heartbeat_seconds=45), actor="it")
    directory.put_policy(
        "adult_learners",
        spec_from_mapping(
            {
                "notice_text": "Adult learners: this college device is monitored for safeguarding.",
                "categories": ["suicide", "self_harm", "extremism", "cse", "illegal"],
                "min_severity": {"*": 4},
            }
        ),
        actor="it",
    )

    nobody_yet = directory.policy_for_device(laptop, BASE)
    assert nobody_yet.heartbeat_seconds == 45 and nobody_yet.notice_text == BASE.notice_text
    assert nobody_yet.os_user == ""

    gareth = directory.policy_for_device(laptop, BASE, os_user="COLLEGE\\s204820")  # adult learner
    assert gareth.notice_text.startswith("Adult learners")
    assert gareth.categories is not None and "gambling" not in gareth.categories
    message = gareth.to_proto()
    assert message.heartbeat_seconds == 45 and message.version == gareth.version
    assert list(message.excluded_apps) == ["keepassxc"]

    millie = directory.policy_for_device(laptop, BASE, os_user="s204817")
    assert millie.categories is None and millie.version != gareth.version

    # Changing the group's policy changes the version the agent sees (no restart needed).
    directory.put_policy("adult_learners", PolicySpec(notice_text="Changed"), actor="it")
    assert directory.policy_for_device(laptop, BASE, os_user="s204820").version != gareth.version


def test_policy_for_device_uses_the_last_user_seen(
    store: SqlStore, directory: DirectoryStore
) -> None:
    from collector.store.interface import EventRow
    from lantern.ids import uuid7_str

    import_people(
        directory,
        (EXAMPLES / "mis.csv").read_bytes(),
        "mis",
        EXAMPLES / "mapping-mis.yaml",
        now=NOW,
    )
    directory.put_policy("apprentices", PolicySpec(capture_titles=False), actor="it")
    device = enrol(store)
    for seq, (user, minutes) in enumerate([("s204817", 0), ("s204819", 5)], start=1):
        at = NOW + timedelta(minutes=minutes)
        store.ingest(
            device,
            [EventRow(uuid7_str(), device, seq, "window_focus", at, at, user, "a", "t")],
            lambda _rows: [],
        )
    latest = directory.policy_for_device(device, BASE)
    assert latest.capture_titles is False and latest.os_user == "s204819"


def test_groups_list_counts_people_devices_and_policies(
    store: SqlStore, directory: DirectoryStore
) -> None:
    import_people(
        directory,
        (EXAMPLES / "mis.csv").read_bytes(),
        "mis",
        EXAMPLES / "mapping-mis.yaml",
        now=NOW,
    )
    enrol(store, group="Staff devices")
    directory.put_policy("staff_devices", PolicySpec(capture_typed=False), actor="it")
    groups = {g.name: g for g in directory.list_groups()}
    assert groups["study_programme_16_18"].people == 2
    assert groups["student"].people == 4
    assert (groups["staff_devices"].devices, groups["staff_devices"].policy_version) == (1, 1)


def test_effective_policy_is_plain_data() -> None:
    e = from_proto(BASE)
    assert isinstance(e, EffectivePolicy) and e.excluded_apps == ("keepassxc",)
