"""The console in a real browser: Debian's Chromium driven by Playwright, against the
collector's web app served by a real uvicorn on loopback.

A DSL signs in with a TOTP second factor, sees a newly raised alert appear in the queue without
reloading, opens it, acknowledges it and closes it with an outcome; an IT admin creates an
enrolment token and edits the lexicon; a trustee opens coverage, the trends and the annual
review and downloads the PDF, and no page shows a student identifier; each role is refused the
others' pages. Screenshots of each main page are written to var/e2e/console/.
"""

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from collector.alerts.store import AlertStore
from collector.security.credentials import (
    ENROLMENT_PREFIX,
    hash_password,
    new_token,
    token_hash,
)
from collector.store import SqlStore, open_store
from collector.store.interface import AlertCandidate, DeviceRegistration
from collector.web.app import create_app
from tests.conftest import ROOT, free_port

# The console's own packages (pyproject); skip, not crash, on a venv without them.
pyotp = pytest.importorskip("pyotp")
pytest.importorskip("segno")
pytest.importorskip("fpdf")

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
STUDENT = "COLLEGE\\zoe.pupil"
SCREENSHOTS = ROOT / "var" / "e2e" / "console"


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, which would break every later asyncio test in the session.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the console tests (it is the slow part to start)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Console:
    """The collector's web app served by a real uvicorn on loopback, over its own database.

    The app is the one `lantern-collector serve` runs (create_app); the detection engine and
    gRPC ingest are left out so the browser test does not wait for the lexicon to compile.
    """

    store: SqlStore
    http: str
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    store = open_store(f"sqlite:///{tmp / 'lantern.db'}")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("the console did not start")
        time.sleep(0.05)
    yield Console(store, f"127.0.0.1:{port}", server, thread)
    server.should_exit = True
    thread.join(10)
    store.close()


@pytest.fixture(scope="module")
def store(console: Console) -> SqlStore:
    return console.store


@pytest.fixture(scope="module")
def device_id(store: SqlStore) -> str:
    token = new_token(ENROLMENT_PREFIX)
    store.add_enrolment_token(token_hash(token), "year-12", 1, None)
    reg = DeviceRegistration(uuid.uuid4().hex, "ZOE-LAPTOP", "SN-E2E-1", "linux", "13", "1.0.0")
    device = store.enrol_device(token_hash(token), reg, "s" * 64, datetime.now(UTC))
    store.record_heartbeat(device.id, datetime.now(UTC), {"windows": "ok", "keyboard": "ok"}, 0)
    return device.id


def raise_alert(store: SqlStore, device_id: str, category: str = "suicide") -> int:
    now = datetime.now(UTC)
    candidate = AlertCandidate(
        dedup_key=f"e2e:{uuid.uuid4().hex}",
        severity=5,
        category=category,
        rule=f"{category}.e2e",
        source="typed",
        device_id=device_id,
        os_user=STUDENT,
        app="firefox",
        title="Search - Mozilla Firefox",
        matched="end it all",
        snippet="i just want to end it all",
        event_id=str(uuid.uuid4()),
        observed_at=now,
        notify=False,
    )
    AlertStore(store).raise_alerts([candidate], now)
    return max(a.id for a in store.list_alerts(limit=1000))


def add_user(console: Console, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:6]}@college.example"
    console.store.add_user(email, role, hash_password(PASSWORD))
    return email


def sign_in(browser: Browser, console: Console, role: str) -> Page:
    """Sign in through the real forms; dsl and it_admin set up and use TOTP."""
    email = add_user(console, role)
    page = browser.new_context(base_url=f"http://{console.http}").new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if role in ("dsl", "it_admin"):
        expect(page).to_have_url(f"http://{console.http}/login/totp")
        secret = page.locator("#totp-secret").inner_text()
        page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Continue").click()
    expect(page.locator("header .who")).to_contain_text(email)
    return page


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_dsl_sees_a_new_alert_live_then_acknowledges_and_closes_it(
    browser: Browser, console: Console, store: SqlStore, device_id: str
) -> None:
    page = sign_in(browser, console, "dsl")
    expect(page).to_have_url(f"http://{console.http}/alerts")
    shot(page, "dsl-queue-empty")
    alert_id = raise_alert(store, device_id)
    row = page.locator(f'#queue tr[data-alert-id="{alert_id}"]')
    expect(row).to_be_visible(timeout=15_000)  # arrives by the live poll, no reload
    expect(page.locator("#live-status")).to_contain_text("1 new alert")
    expect(row).to_contain_text("suicide")
    expect(page.locator("#queue-count")).to_have_text("1")
    shot(page, "dsl-queue-live")

    row.get_by_role("link").first.click()
    expect(page).to_have_url(f"http://{console.http}/alerts/{alert_id}")
    expect(page.locator(".evidence")).to_contain_text("end it all")
    shot(page, "dsl-alert")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#alert-status")).to_contain_text("acknowledged")
    page.get_by_label("Outcome").select_option("spoke_with_student")
    page.get_by_label("Note (what was done)").fill("Spoke with the student and their tutor.")
    page.get_by_role("button", name="Close alert").click()
    expect(page.locator("#alert-status")).to_contain_text("closed")
    expect(page.locator("#alert-status")).to_contain_text("Spoke with the student")
    expect(page.get_by_text("Spoke with the student and their tutor.")).to_be_visible()
    shot(page, "dsl-alert-closed")

    page.goto(f"/student?login={STUDENT}")
    expect(page.locator("h1")).to_contain_text("zoe.pupil")
    shot(page, "dsl-student")
    record = store.list_alerts(status="closed")
    assert [a.id for a in record] == [alert_id]


def test_it_admin_creates_a_token_and_edits_the_lexicon(
    browser: Browser, console: Console, device_id: str
) -> None:
    page = sign_in(browser, console, "it_admin")
    expect(page).to_have_url(f"http://{console.http}/devices")
    expect(page.locator("#devices")).to_contain_text("ZOE-LAPTOP")
    shot(page, "it-devices")

    page.get_by_role("link", name="Enrolment tokens").click()
    page.get_by_label("Device group").fill("science-lab")
    page.get_by_label("Uses (empty: unlimited)").fill("30")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_contain_text("lte_")
    expect(page.locator("#tokens")).to_contain_text("science-lab")
    shot(page, "it-tokens")

    page.get_by_role("link", name="Policy").click()
    form = page.get_by_role("form", name="Change a keyword")
    form.get_by_label("Phrase").fill("blue whale challenge")
    form.get_by_label("Category").select_option("self_harm")
    form.get_by_label("Severity").select_option("4")
    form.get_by_label("Reason").fill("Local trend reported by the DSL")
    form.get_by_role("button", name="Save keyword").click()
    expect(page.locator("#keywords")).to_contain_text("blue whale challenge")
    expect(page.locator("#policy-history")).to_contain_text("Local trend reported by the DSL")
    shot(page, "it-policy")

    page.get_by_role("link", name="Users").click()
    expect(page.locator("#users")).to_contain_text("it_admin")
    shot(page, "it-users")

    page.get_by_role("link", name="Coverage").click()
    intune = (
        "Device name,Serial number,Primary user UPN,Device category\r\n"
        "ZOE-LAPTOP,SN-E2E-1,zoe@college.example,Year 12\r\n"
        "SPARE-1,SN-SPARE-1,,Year 12\r\n"
        "SPARE-2,SN-SPARE-2,,Staff\r\n"
    )
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "intune.csv", "mimeType": "text/csv", "buffer": intune.encode()}]
    )
    page.get_by_role("button", name="Import (replaces the list)").click()
    expect(page.locator("#fig-expected")).to_have_text("3")
    expect(page.locator("#not-enrolled")).to_contain_text("spare-2")
    shot(page, "it-coverage")


def test_trustee_sees_coverage_and_downloads_the_report_without_identifiers(
    browser: Browser, console: Console, store: SqlStore, device_id: str, tmp_path: Path
) -> None:
    for _ in range(6):
        raise_alert(store, device_id, category="bullying")
    page = sign_in(browser, console, "trustee")
    expect(page).to_have_url(f"http://{console.http}/coverage")
    expect(page.locator("#fig-enrolled")).to_have_text("1")
    shot(page, "trustee-coverage")
    texts = [page.content()]
    page.get_by_role("link", name="Trends").click()
    expect(page.locator("#category-month")).to_contain_text("bullying")
    shot(page, "trustee-trends")
    texts.append(page.content())
    page.get_by_role("link", name="Annual review").click()
    shot(page, "trustee-report")
    texts.append(page.content())
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    pdf = tmp_path / "report.pdf"
    download_info.value.save_as(pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    for ident in ("zoe", "ZOE-LAPTOP", "end it all", "SN-E2E-1"):
        assert all(ident not in t for t in texts), ident
        assert ident.encode() not in data, ident


@pytest.mark.parametrize(
    ("role", "refused"),
    [
        ("trustee", ["/alerts", "/devices", "/tokens", "/policy", "/users"]),
        ("it_admin", ["/alerts", "/governance", "/report"]),
        ("dsl", ["/tokens", "/users"]),
    ],
)
def test_each_role_is_refused_the_others_pages(
    browser: Browser, console: Console, role: str, refused: list[str]
) -> None:
    page = sign_in(browser, console, role)
    for path in refused:
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.locator("main")).to_contain_text("Your role cannot open this page")
    nav = page.locator("header nav").inner_text()
    for path in refused:
        assert f'href="{path}"' not in page.locator("header nav").inner_html(), (path, nav)


AXE = ROOT / "tests" / "collector" / "web" / "vendor" / "axe-4.14.1.min.js"
MAIN_PAGES = {
    "dsl": [
        "/alerts",
        "/alerts/1",
        f"/student?login={STUDENT}",
        "/reports/weekly",
        "/rules",
        "/policy",
        "/audit",
    ],
    "it_admin": ["/devices", "/tokens", "/directory", "/policy", "/users", "/coverage"],
    "trustee": ["/coverage", "/governance", "/report"],
}


@pytest.mark.parametrize("role", list(MAIN_PAGES))
def test_axe_finds_no_serious_accessibility_violations(
    browser: Browser, console: Console, store: SqlStore, device_id: str, role: str
) -> None:
    if not store.list_alerts(limit=1):
        raise_alert(store, device_id)
    page = sign_in(browser, console, role)
    source = AXE.read_text()
    problems = []
    for path in MAIN_PAGES[role] + ["/login"] * (role == "trustee"):
        page.goto(path)
        # Evaluated over the DevTools protocol, so the page's CSP (no inline script) still holds.
        page.evaluate(source)
        result = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
        )
        problems += [
            f"{path}: {v['id']} ({v['impact']}) at {v['nodes'][:3]}"
            for v in result
            if v["impact"] in ("serious", "critical")
        ]
    assert problems == []
