"""Every write that changes what a device's effective policy is made of moves the policy
generation in its own transaction (ingest drops its cached policies when it moves); reads, no-op
writes, dry runs and writes that are not policy inputs leave it alone."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from collector.directory.importers import import_inventory, import_people
from collector.directory.policies import PolicySpec
from collector.directory.store import DirectoryStore
from collector.store import SqlStore, policy_generation
from collector.store.interface import DeviceRegistration
from collector.web import policy as editor
from tests.collector.directory.conftest import EXAMPLES, NOW, enrol
from tests.collector.directory.test_migration import _table_of, migrate

MIS = (EXAMPLES / "mis.csv").read_bytes()
MAPPING = EXAMPLES / "mapping-mis.yaml"
INVENTORY = (EXAMPLES / "devices.csv").read_bytes()
REASON = "agreed with the DSL at the safeguarding meeting"


def moves(store: SqlStore, write: Callable[[], Any]) -> int:
    """How far `write` moved the policy generation."""
    before = policy_generation.current(store.engine)
    write()
    return policy_generation.current(store.engine) - before


def test_migration_0010_builds_the_model_with_its_row_and_downgrades(store: SqlStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from collector.store.models import metadata

    def diff() -> list[Any]:
        with store.engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), metadata)
        return [d for d in found if _table_of(d) == "policy_generation"]

    assert diff() == []
    assert policy_generation.current(store.engine) == 0  # a fresh database: the row, at 0
    with store.engine.begin() as conn:
        policy_generation.bump(conn)
    assert policy_generation.current(store.engine) == 1
    migrate(store, "downgrade", "0009")
    assert "policy_generation" not in inspect(store.engine).get_table_names()
    migrate(store, "upgrade", "head")
    assert diff() == [] and policy_generation.current(store.engine) == 0


def test_people_imports_move_it_only_when_something_changed(
    store: SqlStore, directory: DirectoryStore
) -> None:
    assert moves(store, lambda: import_people(directory, MIS, "mis", MAPPING, dry_run=True)) == 0
    assert moves(store, lambda: import_people(directory, MIS, "mis", MAPPING, now=NOW)) == 1
    assert moves(store, lambda: import_people(directory, MIS, "mis", MAPPING, now=NOW)) == 0
    # Millie is no longer in the export: she leaves (her login stops giving her groups' policies).
    fewer = b"\n".join(line for line in MIS.split(b"\n") if not line.startswith(b"S204817"))
    assert moves(store, lambda: import_people(directory, fewer, "mis", MAPPING, now=NOW)) == 1
    assert directory.person_by_external_id("S204817").status == "left"
    # Retention deletes her after the cut-off.
    assert moves(store, lambda: directory.purge_left(NOW + timedelta(days=1), now=NOW)) == 1
    assert moves(store, lambda: directory.purge_left(NOW + timedelta(days=1), now=NOW)) == 0


def test_manual_logins_groups_and_special_logins_move_it(
    store: SqlStore, directory: DirectoryStore
) -> None:
    import_people(directory, MIS, "mis", MAPPING, now=NOW)
    pid = directory.person_by_external_id("S204818").id
    assert moves(store, lambda: directory.add_login(pid, "tomasz.w", actor="it")) == 1
    assert moves(store, lambda: directory.add_login(pid, "tomasz.w", actor="it")) == 0
    assert moves(store, lambda: directory.remove_login(pid, "tomasz.w", actor="it")) == 1
    assert moves(store, lambda: directory.remove_login(pid, "tomasz.w", actor="it")) == 0
    assert moves(store, lambda: directory.add_to_group(pid, "art_club", actor="it")) == 1
    assert moves(store, lambda: directory.add_to_group(pid, "art_club", actor="it")) == 0
    assert moves(store, lambda: directory.remove_from_group(pid, "art_club", actor="it")) == 1
    assert moves(store, lambda: directory.remove_from_group(pid, "art_club", actor="it")) == 0
    assert moves(store, lambda: directory.set_special_login("exam*", "shared", "", "it")) == 1
    assert moves(store, lambda: directory.remove_special_login("exam*", actor="it")) == 1
    assert moves(store, lambda: directory.remove_special_login("exam*", actor="it")) == 0
    # A DSL flag is not a policy input.
    assert moves(store, lambda: directory.flag_known_case(pid, "open case", actor="dsl")) == 0


def test_group_policies_inventory_and_re_enrolment_move_it(
    store: SqlStore, directory: DirectoryStore
) -> None:
    spec = PolicySpec(capture_titles=False)
    assert moves(store, lambda: directory.put_policy("student_laptops", spec, actor="it")) == 1
    assert moves(store, lambda: directory.delete_policy("student_laptops", actor="it")) == 1
    assert moves(store, lambda: import_inventory(directory, INVENTORY, dry_run=True)) == 0
    assert moves(store, lambda: import_inventory(directory, INVENTORY, now=NOW)) == 1
    assert moves(store, lambda: import_inventory(directory, INVENTORY, now=NOW)) == 0
    # A first enrolment is a new device (nothing cached); enrolling the same install again can
    # change its group, hostname and serial.
    assert moves(store, lambda: enrol(store, "LAPTOP-0193", "PF3XK2Q1", group="Year 12")) == 0
    store.add_enrolment_token("tok-again", "Year 13", None, NOW + timedelta(days=1))
    reg = DeviceRegistration("inst-LAPTOP-0193", "LAPTOP-0193", "PF3XK2Q1", "windows", "11", "1")
    assert moves(store, lambda: store.enrol_device("tok-again", reg, "secret2", NOW)) == 1


def test_every_policy_editor_change_moves_it(store: SqlStore) -> None:
    def add() -> None:
        editor.add_keyword(store, "dsl", "add", "vape shop near college", "drugs", 3, REASON)

    assert moves(store, add) == 1
    (keyword,) = editor.keywords(store)
    assert moves(store, lambda: editor.withdraw_keyword(store, "dsl", keyword.id, REASON)) == 1
    assert moves(store, lambda: editor.change_excluded_app(store, "it", "dashlane", True, REASON))
    assert moves(store, lambda: editor.change_excluded_app(store, "it", "dashlane", False, REASON))
    notice = "This laptop is monitored for safeguarding by Northgate College."
    assert moves(store, lambda: editor.set_notice_text(store, "it", notice, REASON)) == 1


def test_a_refused_change_does_not_move_it(store: SqlStore) -> None:
    def refused() -> None:
        try:
            editor.change_excluded_app(store, "it", "keepassxc", True, REASON)  # already there
        except editor.PolicyEditError:
            pass

    assert moves(store, refused) == 0
