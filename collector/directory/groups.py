"""Groups: named sets of people and devices that policies and triggers are keyed on.

A person's groups come from imports (a mapped column such as "Programme Type", or the plain CSV's
`groups` column) and from IT by hand. A device's groups come from the enrolment token it used
(`devices.group_name`) and from the MDM inventory (`device_inventory.group_name`). Names are
normalised once here so "Adult Learners" in one export and "adult learners" in another are one
group.
"""

import re
from dataclasses import dataclass

_SPACES = re.compile(r"\s+")
MAX_GROUP_NAME = 128


def normalise_group(name: str) -> str:
    """Trimmed, inner whitespace collapsed to one underscore, lower-cased: `adult_learners`."""
    return _SPACES.sub("_", name.strip()).lower()[:MAX_GROUP_NAME]


def split_groups(value: str) -> tuple[str, ...]:
    """A cell listing groups (`adult learners; apprentices`, `a,b`, `a|b`) as normalised names."""
    parts = re.split(r"[;,|]", value)
    return tuple(sorted({g for p in parts if (g := normalise_group(p))}))


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What the directory knows about an enrolled device, from enrolment and the MDM inventory."""

    device_id: str
    hostname: str
    hardware_serial: str
    enrolment_group: str | None  # the enrolment token's group
    inventory_group: str | None  # the MDM export's group
    site: str | None  # the MDM export's site

    @property
    def groups(self) -> tuple[str, ...]:
        names = {normalise_group(g) for g in (self.enrolment_group, self.inventory_group) if g}
        return tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class GroupSummary:
    name: str
    people: int
    devices: int
    policy_version: int | None  # None: no policy for this group
