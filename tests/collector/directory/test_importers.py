"""Parsing exports: header aliases, encodings, line numbers and reasons for unusable rows."""

from datetime import date

import pytest

from collector.directory.importers import ExportError, MappingError, load_mapping
from collector.directory.importers.inventory import parse_inventory
from collector.directory.importers.people import parse_people
from tests.collector.directory.conftest import EXAMPLES

TODAY = date(2026, 11, 25)


def parse(text: str | bytes, fmt: str = "mis", **mapping: object):  # type: ignore[no-untyped-def]
    data = text.encode() if isinstance(text, str) else text
    return parse_people(data, load_mapping(fmt, mapping or None), TODAY)


def test_mis_example_maps_every_field_and_programme_types_to_groups() -> None:
    result = parse_people(
        (EXAMPLES / "mis.csv").read_bytes(),
        load_mapping("mis", EXAMPLES / "mapping-mis.yaml"),
        TODAY,
    )
    assert result.unusable == []
    assert result.inactive == ["S204821"]  # Withdrawn
    millie = result.rows[0]
    assert (millie.external_id, millie.given_name, millie.preferred_name) == (
        "S204817",
        "Amelia",
        "Millie",
    )
    assert millie.date_of_birth == date(2010, 3, 14)
    assert (millie.course, millie.tutor_group, millie.site) == (
        "Level 3 Applied Science",
        "SCI-1A",
        "Northgate",
    )
    assert millie.role is None  # MIS rows do not state a role: new people get default_role
    assert dict(millie.logins) == {"s204817": "sam", "s204817@college.example.ac.uk": "email"}
    assert [r.groups for r in result.rows] == [
        ("study_programme_16_18",),
        ("study_programme_16_18",),
        ("apprentices",),
        ("adult_learners",),
    ]


def test_unusable_rows_report_the_line_they_start_on_and_why() -> None:
    text = (
        "Student ID,Forename,Surname,DOB\n"
        "1001,Ana,Lima,01/02/2009\n"
        ",No,Id,01/02/2009\n"
        '1002,"Multi\nLine",Name,31/02/2009\n'
        "1003,,,01/02/2009\n"
        "1001,Ana,Again,01/02/2009\n"
        "1004,Fut,Ure,01/02/2031\n"
        "1005,Us,Date,12/31/2008\n"
        "1006,Extra,Cell,01/02/2009,oops\n"
        "\n"
        "1007,Ok,Row,2009-02-01\n"
    )
    result = parse(text)
    assert [r.external_id for r in result.rows] == ["1001", "1007"]
    reasons = {u.line: u.reason for u in result.unusable}
    assert reasons[3].startswith("no id")
    assert reasons[4].startswith("date of birth '31/02/2009' is not a date")
    assert reasons[6].startswith("no name")
    assert reasons[7] == "duplicate id: the same id is on line 2"
    assert "in the future" in reasons[8]
    assert reasons[9].startswith("date of birth '12/31/2008'")  # US order is never guessed
    assert "more cell" in reasons[10]
    assert result.rows[1].line == 12
    assert result.total == 9  # the blank line is not a row


def test_title_lines_bom_semicolons_and_windows_1252() -> None:
    text = "Student list exported 01/09/2026\r\n\r\nStudent ID;Forename;Surname\r\n2001;Zoë;Ní Bhriain\r\n"
    for data in (b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("cp1252")):
        result = parse(data)
        assert result.unusable == []
        (row,) = result.rows
        assert (row.external_id, row.given_name, row.family_name, row.line) == (
            "2001",
            "Zoë",
            "Ní Bhriain",
            4,
        )


def test_a_file_without_the_id_column_is_refused_as_a_whole() -> None:
    with pytest.raises(ExportError, match="no header row"):
        parse("Name,Email\nA,a@b.c\n")
    with pytest.raises(ExportError, match="not text"):
        parse(b"PK\x03\x04\x14\x00\x00\x00")  # a spreadsheet, not its CSV export
    parse("Student ID,Forename\n".encode("utf-16"))  # Excel's "Unicode text" is read


def test_entra_export_links_by_employee_id_and_reads_guests() -> None:
    result = parse((EXAMPLES / "entra.csv").read_bytes(), "entra")
    assert result.unusable == []
    by_id = {r.external_id: r for r in result.rows}
    assert set(by_id) >= {"S204817", "E10442"}
    dana = by_id["E10442"]
    assert dana.role is None and dana.site == "Northgate"
    assert ("d.achterberg@college.example.ac.uk", "upn") in dana.logins
    assert ("dachterberg", "sam") in dana.logins
    assert by_id["S204817"].role == "student"  # jobTitle contains "student"
    guest = by_id["e2f4a6c8-5d7b-4a9c-8e1f-4b6d8f0a3e04"]
    assert guest.role == "guest"
    assert (guest.given_name, guest.family_name) == ("Visiting", "Assessor")  # from displayName


def test_entra_without_sam_uses_the_upn_prefix_as_the_user_name() -> None:
    result = parse(
        "userPrincipalName,displayName,id\nJo.Bloggs@College.ac.uk,Jo Bloggs,abc\n", "entra"
    )
    assert dict(result.rows[0].logins) == {"jo.bloggs@college.ac.uk": "upn", "jo.bloggs": "sam"}


def test_google_roles_from_org_units_and_suspended_accounts_are_inactive() -> None:
    result = parse((EXAMPLES / "google.csv").read_bytes(), "google")
    roles = {r.external_id: r.role for r in result.rows}
    assert roles == {"S204817": "student", "S204819": "student", "E10442": "staff"}
    assert result.inactive == ["S190001"]


def test_plain_format_states_roles_and_rejects_unknown_ones() -> None:
    result = parse((EXAMPLES / "people.csv").read_bytes(), "csv")
    assert [r.role for r in result.rows] == ["student", "student", "staff"]
    assert result.rows[1].groups == ("adult_learners",)
    bad = parse("external_id,role,given_name\nx1,pupil,A\n", "plain")
    assert bad.unusable[0].reason.startswith("role 'pupil' is not one of")


def test_mapping_overrides_and_their_errors() -> None:
    result = parse(
        "Learner No,First,Last,Type\nL1,A,B,Staff member\n",
        "mis",
        columns={"external_id": "Learner No", "given_name": "First", "family_name": "Last"},
        role_rules=[{"column": "Type", "prefix": "staff", "role": "staff"}],
    )
    assert (result.rows[0].external_id, result.rows[0].role) == ("L1", "staff")
    with pytest.raises(MappingError, match="unknown field"):
        load_mapping("mis", {"columns": {"shoe_size": "Shoe"}})
    with pytest.raises(MappingError, match="unknown mapping settings"):
        load_mapping("mis", {"colums": {}})
    with pytest.raises(MappingError, match="unknown format"):
        load_mapping("sims")
    with pytest.raises(MappingError, match="role must be"):
        load_mapping("mis", {"default_role": "teacher"})


def test_a_login_on_two_rows_is_unusable_on_the_second() -> None:
    result = parse("Student ID,Forename,Username\n1,A,shared1\n2,B,SHARED1\n")
    assert [r.external_id for r in result.rows] == ["1"]
    assert result.unusable[0].line == 3 and "also on line 2" in result.unusable[0].reason


def test_inventory_reads_intune_headers_and_reports_duplicates() -> None:
    parsed = parse_inventory((EXAMPLES / "devices.csv").read_bytes())
    assert parsed.unusable == []
    first = parsed.rows[0]
    assert (first.serial, first.hostname, first.site, first.group_name) == (
        "PF3XK2Q1",
        "laptop-0193",
        "Northgate",
        "student_laptops",
    )
    dup = parse_inventory(b"hostname,serial,site\nA,x1,\nB,X1,\nC,,\n,,Northgate\n")
    assert [r.hostname for r in dup.rows] == ["a", "c"]
    assert [(u.line, u.reason.split(":")[0]) for u in dup.unusable] == [
        (3, "duplicate device"),
        (5, "no serial number and no hostname"),
    ]


@pytest.mark.parametrize(
    ("header", "row", "serial", "host", "site", "group"),
    [
        (  # Intune
            "Device name,Serial number,Primary user UPN,Device category",
            "PC-1,sn1,a@b.c,Lab",
            "SN1",
            "pc-1",
            "",
            "lab",
        ),
        (  # Configuration Manager
            "Name,SerialNumber0,AD_Site_Name0,Collection",
            "PC-2,SN2,Main,Year 12 Students",
            "SN2",
            "pc-2",
            "Main",
            "year_12_students",
        ),
        (  # Jamf Pro
            "Computer Name,Serial Number,Site,Department",
            "MAC-3,SN3,North,Art",
            "SN3",
            "mac-3",
            "North",
            "art",
        ),
        (  # Google Admin (ChromeOS)
            "Serial Number,Asset ID,Annotated User,Annotated Location,Org Unit Path",
            "SN4,CB-4,kid@x,Library,/Students/Y9",
            "SN4",
            "cb-4",
            "Library",
            "students/y9",
        ),
    ],
)
def test_inventory_reads_each_mdm_export(
    header: str, row: str, serial: str, host: str, site: str, group: str
) -> None:
    parsed = parse_inventory(f"{header}\n{row}\n".encode())
    (d,) = parsed.rows
    assert (d.serial, d.hostname, d.site, d.group_name) == (serial, host, site, group)
    assert "kid@x" not in repr(parsed) and "a@b.c" not in repr(parsed)  # user columns unread


def test_inventory_from_excel_unicode_text_with_semicolons() -> None:
    data = "Device name;Serial number\nPC-9;SN9\n".encode("utf-16")
    assert parse_inventory(data).rows[0].serial == "SN9"


def test_an_export_without_device_columns_is_refused_with_a_reason() -> None:
    with pytest.raises(ExportError, match="serial number or device name column"):
        parse_inventory(b"Email,Name Given\nx,y\n")
