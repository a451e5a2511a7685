import pytest

from agent.observe.browser import BrowserTitle, parse_browser_title


@pytest.mark.parametrize(
    ("title", "names", "expected"),
    [
        ("BBC News - Chromium", ("chromium",), BrowserTitle("Chromium", "BBC News")),
        ("a - b - Google Chrome", ("chrome",), BrowserTitle("Google Chrome", "a - b")),
        ("Docs - Google Chrome (Incognito)", (), BrowserTitle("Google Chrome", "Docs", True)),
        ("Inbox - Microsoft\u200b Edge", ("msedge.exe",), BrowserTitle("Microsoft Edge", "Inbox")),
        (
            "Inbox and 3 more pages - Microsoft\u200b Edge",
            ("msedge",),
            BrowserTitle("Microsoft Edge", "Inbox"),
        ),
        (
            "New InPrivate tab - [InPrivate] - Microsoft\u200b Edge",
            ("msedge",),
            BrowserTitle("Microsoft Edge", "New InPrivate tab", True),
        ),
        ("Search - Brave", ("brave",), BrowserTitle("Brave", "Search")),
        ("Search - Brave (Private)", ("brave-browser",), BrowserTitle("Brave", "Search", True)),
        ("Mail - Opera", ("opera",), BrowserTitle("Opera", "Mail")),
        ("Wikipedia — Mozilla Firefox", ("firefox-esr",), BrowserTitle("Firefox", "Wikipedia")),
        (
            "Wikipedia — Mozilla Firefox Private Browsing",
            ("firefox",),
            BrowserTitle("Firefox", "Wikipedia", True),
        ),
        (
            "Wikipedia - Mozilla Firefox (Private Browsing)",
            ("Navigator",),
            BrowserTitle("Firefox", "Wikipedia", True),
        ),
        ("Mozilla Firefox", ("firefox",), BrowserTitle("Firefox", "")),
        ("Apple", ("Safari",), BrowserTitle("Safari", "Apple")),
        ("Untitled - Chromium", ("chromium",), BrowserTitle("Chromium", "Untitled")),
    ],
)
def test_parses_browser_titles(title: str, names: tuple[str, ...], expected: BrowserTitle) -> None:
    assert parse_browser_title(title, *names) == expected


def test_title_suffix_alone_decides_when_the_process_is_unknown() -> None:
    assert parse_browser_title("Page - Chromium") == BrowserTitle("Chromium", "Page")
    assert parse_browser_title("Essay draft") is None


def test_non_browser_process_is_not_a_browser_whatever_its_title() -> None:
    assert parse_browser_title("x - Google Chrome", "xterm", "XTerm") is None


def test_placeholders() -> None:
    for title in ("Untitled - Chromium", "New Tab - Google Chrome", "about:blank - Chromium"):
        parsed = parse_browser_title(title)
        assert parsed is not None and parsed.is_placeholder, title
    parsed = parse_browser_title("Homework - Chromium")
    assert parsed is not None and not parsed.is_placeholder
