from agent.observe.window import FocusState, FocusTracker, describe
from agent.platform.base import WindowInfo

EXCLUDED = frozenset({"keepassxc", "1password"})


def info(title: str, process: str = "xterm", cls: str = "XTerm", handle: int = 1) -> WindowInfo:
    return WindowInfo(handle=handle, title=title, pid=42, process=process, app_class=cls)


def test_describe_plain_window() -> None:
    s = describe(info("Essay draft"), EXCLUDED)
    assert (s.app, s.process, s.pid, s.browser, s.captures_typing) == (
        "XTerm",
        "xterm",
        42,
        "",
        True,
    )


def test_describe_browser() -> None:
    s = describe(info("Homework - Chromium", "chromium", "Chromium"), EXCLUDED)
    assert (s.app, s.browser, s.page_title, s.placeholder) == (
        "Chromium",
        "Chromium",
        "Homework",
        False,
    )


def test_excluded_apps_match_process_or_class_case_insensitively() -> None:
    assert describe(info("db.kdbx", "keepassxc", "KeePassXC"), EXCLUDED).excluded
    assert describe(info("Vault", "1Password.exe", ""), EXCLUDED).excluded
    assert not describe(info("notes", "gedit", "Gedit"), EXCLUDED).excluded


def test_password_prompts_and_lockers_are_secure() -> None:
    assert describe(info("Passphrase", "pinentry-gtk-2", "Pinentry"), EXCLUDED).secure
    assert describe(info("", "i3lock", ""), EXCLUDED).secure
    assert describe(info("Enter your password - Chromium", "chromium", "Chromium"), EXCLUDED).secure
    assert not describe(info("Essay draft"), EXCLUDED).secure


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def state(title: str, handle: int = 1) -> FocusState:
    return describe(info(title, "chromium", "Chromium", handle), EXCLUDED)


def test_tracker_dedupes_and_reports_changes() -> None:
    out: list[str] = []
    tr = FocusTracker(lambda s: out.append(s.title), clock=Clock())
    tr.update(state("A - Chromium"))
    tr.update(state("A - Chromium"))
    tr.update(state("B - Chromium"))
    tr.update(None)
    tr.update(state("B - Chromium"))  # refocus after nothing is a new event
    assert out == ["A - Chromium", "B - Chromium", "B - Chromium"]


def test_tracker_debounces_placeholders() -> None:
    clock = Clock()
    out: list[str] = []
    tr = FocusTracker(lambda s: out.append(s.title), clock=clock, debounce_s=0.3)
    tr.update(state("New Tab - Chromium"))
    tr.poll()
    assert out == []
    clock.t += 0.1
    tr.update(state("Real page - Chromium"))
    clock.t += 1
    tr.poll()
    assert out == ["Real page - Chromium"]
    # A placeholder that stays is reported after the interval.
    tr.update(state("Untitled - Chromium", handle=2))
    clock.t += 0.2
    tr.poll()
    assert out == ["Real page - Chromium"]
    clock.t += 0.2
    tr.poll()
    assert out == ["Real page - Chromium", "Untitled - Chromium"]
