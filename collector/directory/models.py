"""The directory's tables, on the collector's one `metadata` so Alembic sees a single schema.

Every personal field says what it is for and how long it is kept (docs/directory.md collects the
same table for the privacy notice). "While on roll" means: until the person is absent from every
export that listed them (status `left`), then until retention purges people who left before its
cut-off (`DirectoryStore.purge_left`).
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from collector.store.models import UTCDateTime, metadata

people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True),
    # Purpose: match the same person across re-imports and sources (MIS student id, Entra
    # employeeId / object id, Google Employee ID). Retention: while on roll.
    Column("external_id", String(128), nullable=False, unique=True),
    # student | staff | guest. Purpose: triggers and policies differ by role. Retention: on roll.
    Column("role", String(16), nullable=False),
    # Purpose: an alert names the person so the DSL can act. Retention: while on roll.
    Column("given_name", String(128), nullable=False, default=""),
    Column("family_name", String(128), nullable=False, default=""),
    # Purpose: the name the person is known by (MIS "known as"). Retention: while on roll.
    Column("preferred_name", String(128), nullable=False, default=""),
    # Purpose: age band at the time of an event (under 16 / 16-17 / 18+), which triggers and the
    # DSL's response depend on. Never shown in full outside the person page. Retention: on roll.
    Column("date_of_birth", Date, nullable=True),
    # Purpose: context for the DSL (who teaches them, which class shares a cohort burst).
    # Retention: while on roll.
    Column("course", String(255), nullable=False, default=""),
    Column("year_group", String(64), nullable=False, default=""),
    Column("tutor_group", String(64), nullable=False, default=""),
    # Purpose: route alerts to the right site's DSL; site-level coverage. Retention: on roll.
    Column("site", String(128), nullable=False, default=""),
    # Purpose: contact-free identification (the college address, also a login form).
    # Retention: while on roll.
    Column("email", String(320), nullable=False, default=""),
    # active | left. A person missing from every export is marked left, never deleted on import.
    Column("status", String(8), nullable=False, default="active"),
    Column("left_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_people_status_role", people.c.status, people.c.role)

# Which import sources currently list a person: a person is "left" when no source lists them.
person_sources = Table(
    "person_sources",
    metadata,
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(16), primary_key=True),  # mis | entra | google | plain
    # The id this source knows the person by (an Entra object id for someone the MIS calls
    # S204817), so re-imports match without relying on logins. Retention: while on roll.
    Column("source_key", String(128), nullable=False),
    Column("import_id", Integer, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)
Index("ix_person_sources_key", person_sources.c.source, person_sources.c.source_key)

logins = Table(
    "logins",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    # Purpose: turn the OS user an agent reports into a person. Lower-cased; one of the forms in
    # collector.directory.logins (sam, upn, email, local, alias). Retention: while on roll.
    Column("login", String(320), nullable=False),
    Column("kind", String(8), nullable=False),
    # Which import (or "manual") added it: a re-import replaces only its own logins.
    Column("source", String(16), nullable=False),
    UniqueConstraint("login", "person_id", name="uq_logins_login_person"),
)
Index("ix_logins_login", logins.c.login)

person_groups = Table(
    "person_groups",
    metadata,
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    # Purpose: which group policies and triggers apply (e.g. adult_learners, apprentices).
    # Retention: while on roll.
    Column("group_name", String(128), primary_key=True),
    Column("source", String(16), nullable=False),  # the import that set it, or "manual"
)
Index("ix_person_groups_group", person_groups.c.group_name)

special_logins = Table(
    "special_logins",
    metadata,
    Column("id", Integer, primary_key=True),
    # A login that is not one person: "guest", "library", "exam01". Not personal data.
    Column("login", String(320), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),  # guest | shared
    Column("label", String(255), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

device_inventory = Table(
    "device_inventory",
    metadata,
    Column("id", Integer, primary_key=True),
    # Device facts from the MDM export, matched to enrolled devices by serial, then hostname.
    # Not personal data (college assets). Retention: until the next inventory import drops it.
    Column("serial", String(128), nullable=False, default=""),
    Column("hostname", String(255), nullable=False, default=""),
    Column("site", String(128), nullable=False, default=""),
    Column("group_name", String(128), nullable=False, default=""),
    Column("import_id", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_device_inventory_serial", device_inventory.c.serial)
Index("ix_device_inventory_hostname", device_inventory.c.hostname)

group_policies = Table(
    "group_policies",
    metadata,
    # One row per version: a change inserts a new row; history is never rewritten.
    Column("id", Integer, primary_key=True),
    Column("group_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    # Higher priority wins for single-valued settings (docs/directory.md, "Precedence").
    Column("priority", Integer, nullable=False, default=0),
    # Settings; NULL means "not set here, inherit".
    Column("categories", JSON, nullable=True),
    Column("min_severity", JSON, nullable=True),
    Column("notice_text", Text, nullable=True),
    Column("capture_typed", Boolean, nullable=True),
    Column("capture_titles", Boolean, nullable=True),
    Column("heartbeat_seconds", Integer, nullable=True),
    Column("excluded_apps", JSON, nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    # Purpose: accountability for a policy change. Retention: with the policy history.
    Column("changed_by", String(320), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    UniqueConstraint("group_name", "version", name="uq_group_policies_version"),
)

person_flags = Table(
    "person_flags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    # known_case: the DSL already has an open case; their alerts are raised in priority.
    Column("kind", String(16), nullable=False),
    # Purpose: why the DSL flagged the person (special category data: keep it short, refer to
    # the case system). Visible to dsl only. Retention: with the person; cleared flags too.
    Column("reason", Text, nullable=False),
    Column("set_by", String(320), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
    Column("cleared_by", String(320), nullable=True),
    Column("cleared_at", UTCDateTime, nullable=True),
    Column("clear_reason", Text, nullable=True),
)
Index("ix_person_flags_person", person_flags.c.person_id)

directory_imports = Table(
    "directory_imports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(16), nullable=False),  # mis | entra | google | plain | inventory
    Column("filename", String(255), nullable=False, default=""),
    Column("sha256", String(64), nullable=False, default=""),
    Column("actor", String(320), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # Counts only (added / changed / left / unusable): the report's detail is returned, not kept.
    Column("summary", JSON, nullable=False, default=dict),
)


DIRECTORY_TABLES = (
    people,
    person_sources,
    logins,
    person_groups,
    special_logins,
    device_inventory,
    group_policies,
    person_flags,
    directory_imports,
)
