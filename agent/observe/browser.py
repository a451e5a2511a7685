"""Page titles from browser window titles, for every browser students use.

Browsers put the page title in the window title with a brand suffix:

* Chromium family: ``"<page> - Chromium"``, ``"<page> - Google Chrome"``, ``"<page> - Brave"``,
  ``"<page> - Opera"``, ``"<page> - Microsoft\u200b Edge"`` (Edge puts a zero-width space in its own
  name, and may add ``" and 3 more pages"`` and a profile segment). Incognito/private windows add
  ``" (Incognito)"`` / ``" (Private)"`` or an ``"[InPrivate]"`` segment.
* Firefox: ``"<page> — Mozilla Firefox"`` with an em dash; private windows end
  ``"— Mozilla Firefox Private Browsing"`` (older: ``"(Private Browsing)"``).
* Safari (macOS) shows the bare page title; the process name says it is Safari.

When the process is known and is not a browser, the title is not parsed: an xterm titled
``"x - Google Chrome"`` is not a browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# process or WM_CLASS name (lower case, without ".exe") -> browser name.
_PROCESSES: dict[str, str] = {
    "chromium": "Chromium",
    "chromium-browser": "Chromium",
    "chrome": "Google Chrome",
    "google-chrome": "Google Chrome",
    "google-chrome-stable": "Google Chrome",
    "google chrome": "Google Chrome",
    "msedge": "Microsoft Edge",
    "microsoft-edge": "Microsoft Edge",
    "microsoft-edge-stable": "Microsoft Edge",
    "microsoft edge": "Microsoft Edge",
    "brave": "Brave",
    "brave-browser": "Brave",
    "brave browser": "Brave",
    "opera": "Opera",
    "firefox": "Firefox",
    "firefox-esr": "Firefox",
    "firefox-bin": "Firefox",
    "navigator": "Firefox",  # Firefox's WM_CLASS instance
    "safari": "Safari",
}

# Title suffixes, most specific first. Each: (regex on the end of the title, browser name).
_SUFFIXES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\s[-\u2013\u2014]\s(?:Microsoft\u200b?\s?Edge)(?P<mark>\s\((?:InPrivate)\))?$"
        ),
        "Microsoft Edge",
    ),
    (re.compile(r"\s-\s(?:Google Chrome)(?P<mark>\s\((?:Incognito|Guest)\))?$"), "Google Chrome"),
    (re.compile(r"\s-\s(?:Chromium)(?P<mark>\s\((?:Incognito|Guest)\))?$"), "Chromium"),
    (
        re.compile(r"\s-\s(?:Brave)(?P<mark>\s\((?:Private|Private with Tor|Incognito)\))?$"),
        "Brave",
    ),
    (re.compile(r"\s-\s(?:Opera)(?P<mark>\s\((?:Private)\))?$"), "Opera"),
    (
        re.compile(r"\s[\u2014-]\s(?:Mozilla Firefox)(?P<mark>\s(?:\()?Private Browsing(?:\))?)?$"),
        "Firefox",
    ),
]

_BRANDS = frozenset(
    {
        "chromium",
        "google chrome",
        "microsoft edge",
        "brave",
        "opera",
        "mozilla firefox",
        "mozilla firefox private browsing",
        "safari",
    }
)

# Edge adds " and N more page(s)" for windows with several tabs.
_EDGE_MORE_PAGES = re.compile(r"\sand\s\d+\smore\spages?$")
_PRIVATE_SEGMENT = re.compile(r"\s-\s\[?InPrivate\]?$")

# Titles browsers show while a page loads or for an empty tab. Emitting them would produce a
# useless focus event a moment before the real title, so they are debounced.
PLACEHOLDER_TITLES = frozenset(
    {
        "",
        "untitled",
        "new tab",
        "new incognito tab",
        "new private tab",
        "new inprivate tab",
        "new window",
        "about:blank",
        "loading...",
        "loading…",
        "start page",
        "private browsing",
    }
)


@dataclass(frozen=True)
class BrowserTitle:
    """A browser window's title, parsed."""

    browser: str
    page_title: str
    private: bool = False

    @property
    def is_placeholder(self) -> bool:
        """True for loading/new-tab titles that are replaced within a moment."""
        return self.page_title.strip().lower() in PLACEHOLDER_TITLES


def browser_for_process(*names: str) -> str:
    """The browser name for any of the given process / window-class names, or ""."""
    for name in names:
        key = name.strip().lower().removesuffix(".exe").removesuffix(".app")
        if key in _PROCESSES:
            return _PROCESSES[key]
    return ""


def parse_browser_title(title: str, *names: str) -> BrowserTitle | None:
    """Parse ``title`` if the window belongs to a browser.

    ``names`` are what is known about the owning program (process name, window class); if any is
    known and none is a browser, the window is not a browser. With no names at all the title
    suffix alone decides.
    """
    known = [n for n in names if n]
    by_process = browser_for_process(*known)
    if known and not by_process:
        return None
    for pattern, browser in _SUFFIXES:
        m = pattern.search(title)
        if m is None:
            continue
        page = title[: m.start()]
        private = bool(m.group("mark")) and not m.group("mark").strip().startswith("(Guest")
        if browser == "Microsoft Edge":
            if _PRIVATE_SEGMENT.search(page):
                private = True
                page = _PRIVATE_SEGMENT.sub("", page)
            page = _EDGE_MORE_PAGES.sub("", page)
        elif browser in ("Google Chrome", "Chromium", "Brave"):
            page = _EDGE_MORE_PAGES.sub("", page)  # Chrome's accessible titles do the same
        return BrowserTitle(browser=by_process or browser, page_title=page.strip(), private=private)
    if by_process:
        # A browser window without its suffix: Safari always, others for the empty start page
        # (whose window title is the bare brand, e.g. "Mozilla Firefox").
        page = title.strip()
        if page.lower().replace("\u200b", "") in _BRANDS:
            page = ""
        return BrowserTitle(browser=by_process, page_title=page)
    return None
