"""Subject: who was at the keyboard for one event, as triggers and alerts see it."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from collector.directory.people import AgeBand

SubjectKind = Literal["person", "guest", "shared", "unknown"]


@dataclass(frozen=True, slots=True)
class Subject:
    """The answer to `DirectoryStore.resolve(os_user, device_id, at)`.

    kind: `person` when the login maps to one person; `guest` / `shared` for logins IT declared as
    such (label says which, e.g. "Library kiosk"); `unknown` when nothing matched (`reason` says
    `no_match`, `ambiguous` when the login maps to several people, `empty`, or `purged` for an alert
    whose person has since been removed). Guest, shared and
    unknown subjects still carry the device and time so staff can trace who was using it.

    Personal fields (display_name, course, tutor_group, known_case) are for dsl-facing code only;
    trustee views use `role`, `age_band`, `site` and `groups` in aggregate.
    """

    kind: SubjectKind
    os_user: str
    device_id: str
    at: datetime
    hostname: str = ""
    person_id: int | None = None
    external_id: str = ""
    display_name: str = ""
    role: Literal["student", "staff", "guest", "unknown"] = "unknown"
    age_band: AgeBand = "unknown"
    course: str = ""
    year_group: str = ""
    tutor_group: str = ""
    site: str = ""  # the person's site, else the device's
    person_site: str = ""
    device_site: str = ""
    groups: tuple[str, ...] = ()  # person groups and device groups together
    person_groups: tuple[str, ...] = ()
    device_groups: tuple[str, ...] = ()
    known_case: bool = False
    left: bool = False  # the person has left but their login is still in use
    label: str = ""  # for guest/shared logins
    reason: str = ""  # for unknown: no_match | ambiguous | empty | purged (a leaver since removed)

    @property
    def is_person(self) -> bool:
        return self.kind == "person"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready; the alerts API embeds this for dsl users."""
        return {
            "kind": self.kind,
            "os_user": self.os_user,
            "device_id": self.device_id,
            "hostname": self.hostname,
            "at": self.at.isoformat(),
            "person_id": self.person_id,
            "external_id": self.external_id,
            "display_name": self.display_name,
            "role": self.role,
            "age_band": self.age_band,
            "course": self.course,
            "year_group": self.year_group,
            "tutor_group": self.tutor_group,
            "site": self.site,
            "groups": list(self.groups),
            "known_case": self.known_case,
            "left": self.left,
            "label": self.label,
            "reason": self.reason,
        }
