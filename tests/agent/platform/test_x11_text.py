import pytest

from agent.platform.x11_text import decode_compound_text, decode_text_property


def test_xterm_compound_text_with_utf8_segment() -> None:
    # What xterm writes as WM_NAME for the title "Café ✓" (measured under Xvfb).
    raw = b"Caf\xe9 \x1b%G\xe2\x9c\x93\x1b%@"
    assert decode_text_property(raw, "COMPOUND_TEXT") == "Café ✓"


def test_compound_text_other_right_half() -> None:
    # ESC - L designates ISO 8859-5 (Cyrillic) for the right half.
    assert decode_compound_text(b"\x1b-L\xbf\xe0\xd8") == "При"


@pytest.mark.parametrize(
    ("raw", "type_name", "expected"),
    [
        ("Café ✓".encode(), "UTF8_STRING", "Café ✓"),
        ("Café ✓".encode(), "STRING", "Café ✓"),  # STRING holding UTF-8: seen in the wild
        (b"Caf\xe9", "STRING", "Café"),  # real Latin-1
        (b"plain\x00", "STRING", "plain"),
        (b"", "UTF8_STRING", ""),
    ],
)
def test_any_type_decodes(raw: bytes, type_name: str, expected: str) -> None:
    assert decode_text_property(raw, type_name) == expected


def test_broken_compound_text_falls_back() -> None:
    assert decode_text_property(b"abc\x1b$B", "COMPOUND_TEXT") == "abc\x1b$B"
