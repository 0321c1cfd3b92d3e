"""What flows in and out of the conversation engine: inputs, replies and buttons.

A reply names a template (templates/text/NAME.txt.j2) and its context; each adapter renders it
(plain text on the console, Telegram HTML in the bot).  Buttons carry short ASCII actions
(Telegram's callback_data is at most 64 bytes); on the console they are numbered, and a typed number
works in Telegram too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # short ASCII, e.g. "c:age:2", "back", "src:0"


@dataclass
class Reply:
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    buttons: list[list[Button]] = field(default_factory=list)  # rows
    edit: bool = False  # an answer to a button press may replace the message it was pressed on
    numbered: bool = True  # False where the user types free text (an age): a typed "1" is not button 1

    @property
    def flat_buttons(self) -> list[Button]:
        return [b for row in self.buttons for b in row]


@dataclass(frozen=True)
class Input:
    """One thing the user did: typed text, pressed a button (action) or sent a command."""

    text: str = ""
    action: str | None = None

    @classmethod
    def typed(cls, text: str) -> "Input":
        return cls(text=(text or "").strip())

    @classmethod
    def pressed(cls, action: str) -> "Input":
        return cls(action=action)


@dataclass(frozen=True)
class Who:
    """The person talking to the bot, as the database knows them."""

    user_key: str
    role: str = "guardian"  # guardian / volunteer / staff / admin
    name: str = ""


@dataclass
class Notice:
    """A message for someone else than the person talking: staff, a volunteer, a family."""

    user_key: str
    reply: Reply


def rows(buttons: list[Button], per_row: int = 1) -> list[list[Button]]:
    return [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]
