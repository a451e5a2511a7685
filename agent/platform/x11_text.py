"""Decoding X11 text properties (window titles) whatever type the client wrote them as.

Clients disagree: ``_NET_WM_NAME`` is meant to be ``UTF8_STRING`` but is sometimes written as
``STRING`` holding UTF-8; xterm writes ``WM_NAME`` as ``COMPOUND_TEXT`` (Latin-1 with escape
sequences, non-Latin-1 characters as embedded UTF-8 segments); old clients write Latin-1 ``STRING``.
So the property type is a hint only: try what the type says, then UTF-8, then Latin-1.
"""

from __future__ import annotations

_ESC = 0x1B

# ISO 2022 final bytes for the 96-character sets used in compound text's right half (ESC - F).
_GR_CHARSETS = {
    ord("A"): "latin-1",
    ord("B"): "iso8859-2",
    ord("C"): "iso8859-3",
    ord("D"): "iso8859-4",
    ord("F"): "iso8859-7",
    ord("G"): "iso8859-6",
    ord("H"): "iso8859-8",
    ord("L"): "iso8859-5",
    ord("M"): "iso8859-9",
}


def decode_text_property(value: bytes, type_name: str) -> str:
    """Text from a format-8 property's bytes, using ``type_name`` (an atom name) as a hint."""
    value = value.rstrip(b"\x00")
    if not value:
        return ""
    if type_name == "COMPOUND_TEXT" or _ESC in value:
        try:
            return decode_compound_text(value)
        except (UnicodeDecodeError, ValueError):
            pass
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        # Latin-1 decodes any byte string, so a title is never lost, only possibly mis-spelled.
        return value.decode("latin-1")


def decode_compound_text(value: bytes) -> str:
    """Decode X Compound Text (the subset real clients emit).

    Supported: ASCII in GL, ISO 8859-x in GR (Latin-1 by default), and the extended UTF-8 segments
    (``ESC % G`` … ``ESC % @``) that Xlib emits for characters outside the 8859 sets.
    """
    out: list[str] = []
    gr = "latin-1"
    i = 0
    n = len(value)
    while i < n:
        b = value[i]
        if b != _ESC:
            j = i
            while j < n and value[j] != _ESC:
                j += 1
            chunk = value[i:j]
            # GL bytes are ASCII in every charset we accept; GR bytes use the current right half.
            out.append("".join(chr(c) if c < 0x80 else bytes([c]).decode(gr) for c in chunk))
            i = j
            continue
        if value[i + 1 : i + 3] == b"%G":  # UTF-8 segment up to ESC % @
            end = value.find(b"\x1b%@", i + 3)
            end = n if end < 0 else end
            out.append(value[i + 3 : end].decode("utf-8"))
            i = end + 3
        elif value[i + 1 : i + 2] == b"-" and i + 2 < n:  # designate a 96-char set to GR
            gr = _GR_CHARSETS.get(value[i + 2], "latin-1")
            i += 3
        elif value[i + 1 : i + 2] in (b"(", b")") and i + 2 < n:  # 94-char set designations
            i += 3
        else:
            raise ValueError("unsupported compound text escape")
    return "".join(out)
