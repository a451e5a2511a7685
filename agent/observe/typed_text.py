"""The typed-text buffer of the focused window: what the student has typed, as edited.

Raw keystrokes never leave the device and never touch disk (DESIGN.md, principle 1). This buffer
lives only in memory, is bounded, is cleared when focus moves to another window, and is only ever
handed to the detection engine. Nothing here logs or formats its contents: ``repr`` is redacted so
an exception trace or a debug log cannot leak it.

Edits are applied the way a text field would: insertion at a cursor, BackSpace/Delete (optionally a
whole word, as Ctrl+BackSpace does), Left/Right, Home/End of the line, Up/Down between lines,
Return as a newline. What we cannot see (a mouse click moving the caret, a paste) makes the
buffer approximate; :meth:`TypedBuffer.clear` is used where we know it has become wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

DEFAULT_LIMIT = 512


class Op(Enum):
    """An editing operation decoded from one key press."""

    INSERT = "insert"
    BACKSPACE = "backspace"
    DELETE = "delete"
    BACKSPACE_WORD = "backspace_word"
    DELETE_WORD = "delete_word"
    LEFT = "left"
    RIGHT = "right"
    WORD_LEFT = "word_left"
    WORD_RIGHT = "word_right"
    UP = "up"
    DOWN = "down"
    HOME = "home"
    END = "end"
    NEWLINE = "newline"
    CLEAR = "clear"  # the buffer no longer reflects the field (select-all, paste, undo, ...)


@dataclass(frozen=True)
class Edit:
    """One operation on the buffer; ``text`` only for :attr:`Op.INSERT`."""

    op: Op
    text: str = ""

    def __repr__(self) -> str:  # never show typed characters
        return f"Edit({self.op.value})"


class TypedBuffer:
    """A bounded text buffer with a cursor.

    When the text grows past ``limit`` characters, a quarter of it is dropped from the end far from
    the cursor in one go; trimming in chunks keeps the detection engine's offsets stable between
    most keystrokes.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 8:
            raise ValueError("limit too small")
        self.limit = limit
        self._text = ""
        self._cursor = 0
        self.generation = 0  # bumped on clear and trim: offsets into old text are meaningless
        # Characters dropped from the front since the last clear: ``offset + front_trimmed`` is a
        # position that stays put while the buffer scrolls.
        self.front_trimmed = 0

    def __repr__(self) -> str:
        return f"TypedBuffer(len={len(self._text)}, cursor={self._cursor})"

    @property
    def text(self) -> str:
        """The current buffer; pass it to detection only."""
        return self._text

    @property
    def cursor(self) -> int:
        return self._cursor

    def __len__(self) -> int:
        return len(self._text)

    def apply(self, edit: Edit) -> bool:
        """Apply one edit; returns True if the text (not just the cursor) changed."""
        op = edit.op
        before = self._text
        if op is Op.INSERT:
            self.insert(edit.text)
        elif op is Op.BACKSPACE:
            self._delete_range(max(0, self._cursor - 1), self._cursor)
        elif op is Op.DELETE:
            self._delete_range(self._cursor, min(len(self._text), self._cursor + 1))
        elif op is Op.BACKSPACE_WORD:
            self._delete_range(self._word_left(), self._cursor)
        elif op is Op.DELETE_WORD:
            self._delete_range(self._cursor, self._word_right())
        elif op is Op.LEFT:
            self._cursor = max(0, self._cursor - 1)
        elif op is Op.RIGHT:
            self._cursor = min(len(self._text), self._cursor + 1)
        elif op is Op.WORD_LEFT:
            self._cursor = self._word_left()
        elif op is Op.WORD_RIGHT:
            self._cursor = self._word_right()
        elif op is Op.HOME:
            self._cursor = self._line_start(self._cursor)
        elif op is Op.END:
            self._cursor = self._line_end(self._cursor)
        elif op is Op.UP:
            self._vertical(-1)
        elif op is Op.DOWN:
            self._vertical(+1)
        elif op is Op.NEWLINE:
            self.insert("\n")
        elif op is Op.CLEAR:
            self.clear()
        return self._text != before

    def insert(self, text: str) -> None:
        """Insert at the cursor, as typing does."""
        if not text:
            return
        c = self._cursor
        self._text = self._text[:c] + text + self._text[c:]
        self._cursor = c + len(text)
        if len(self._text) > self.limit:
            self._trim()

    def clear(self) -> None:
        """Forget everything (focus moved, or the field changed in ways we cannot see)."""
        self._text = ""
        self._cursor = 0
        self.front_trimmed = 0
        self.generation += 1

    # ---------------------------------------------------------------- internals

    def _delete_range(self, start: int, end: int) -> None:
        if start >= end:
            return
        self._text = self._text[:start] + self._text[end:]
        self._cursor = start

    def _trim(self) -> None:
        keep = self.limit - self.limit // 4
        excess = len(self._text) - keep
        if self._cursor >= len(self._text) - self._cursor:
            # Typing at the end (the usual case): drop the oldest text.
            self._text = self._text[excess:]
            self._cursor = max(0, self._cursor - excess)
            self.front_trimmed += excess
        else:
            self._text = self._text[: len(self._text) - excess]
            self._cursor = min(self._cursor, len(self._text))
        self.generation += 1

    def _word_left(self) -> int:
        i = self._cursor
        while i > 0 and self._text[i - 1].isspace():
            i -= 1
        while i > 0 and not self._text[i - 1].isspace():
            i -= 1
        return i

    def _word_right(self) -> int:
        i, n = self._cursor, len(self._text)
        while i < n and self._text[i].isspace():
            i += 1
        while i < n and not self._text[i].isspace():
            i += 1
        return i

    def _line_start(self, pos: int) -> int:
        return self._text.rfind("\n", 0, pos) + 1

    def _line_end(self, pos: int) -> int:
        end = self._text.find("\n", pos)
        return len(self._text) if end < 0 else end

    def _vertical(self, direction: int) -> None:
        start = self._line_start(self._cursor)
        column = self._cursor - start
        if direction < 0:
            if start == 0:
                self._cursor = 0  # first line: like a text field, Up goes to the start
                return
            target_start = self._line_start(start - 1)
        else:
            end = self._line_end(self._cursor)
            if end >= len(self._text):
                self._cursor = len(self._text)
                return
            target_start = end + 1
        self._cursor = min(target_start + column, self._line_end(target_start))
