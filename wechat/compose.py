"""Engine replies → what a WeChat user receives: one text (in parts when long) and one set of buttons.

WeChat shows plain text; it has no inline keyboard.  The replies of one step are merged into one
text (blank lines between them), cut into parts of at most TEXT_BYTES bytes (WeChat refuses a text
over 2048 bytes), and the buttons of the last reply that has buttons (the engine's own rule: a
typed number presses one of those) become either
- one 菜单消息 (msgmenu) sent by the customer-service API: each item is tappable, its id is the
  button's action, and WeChat posts a tap back as a text message carrying `bizmsgmenuid`; or
- where a menu is not possible (no API configured, more than MENU_ITEMS buttons, the menu refused),
  numbered lines under the text (templates/text/wechat_choices.txt.j2): a typed number presses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from conversation.model import Button, Reply
from templates import label, render_reply, render_text, split_message

TEXT_BYTES = 2000  # WeChat: text content at most 2048 bytes
MENU_ITEMS = 10  # WeChat: a msgmenu lists at most 10 items
ITEM_BYTES = 128  # an item's content; its id is at most 64 bytes (our actions are short ASCII)


@dataclass
class Composed:
    parts: list[str] = field(default_factory=list)  # the text, in messages of at most TEXT_BYTES
    buttons: list[Button] = field(default_factory=list)
    numbered: bool = True  # a typed number presses a button (False at a free-text question)

    @property
    def menu_fits(self) -> bool:
        return 0 < len(self.buttons) <= MENU_ITEMS and all(len(b.action.encode()) <= 64 for b in self.buttons)

    def with_choices(self) -> list[str]:
        """The parts, with the buttons written under the text (where a menu cannot be sent)."""
        if not self.buttons:
            return list(self.parts)
        return split_text("\n\n".join(self.parts + [self.choices_text()]))

    def choices_text(self) -> str:
        return render_text("text/wechat_choices.txt.j2", numbered=self.numbered,
                           labels=[b.label for b in self.buttons]).strip()

    def msgmenu(self) -> dict[str, Any]:
        tail = label("wechat_menu_tail_numbered", n=len(self.buttons)) if self.numbered else label("wechat_menu_tail")
        head = label("wechat_menu_head") if self.numbered else label("wechat_menu_head_free")
        return {"head_content": head,
                "list": [{"id": b.action, "content": _clip(b.label, ITEM_BYTES)} for b in self.buttons],
                "tail_content": tail}


def compose(replies: Iterable[Reply]) -> Composed:
    replies = list(replies)
    text = "\n\n".join(render_reply(r) for r in replies)
    last = next((r for r in reversed(replies) if r.buttons), None)
    return Composed(parts=split_text(text) if text else [],
                    buttons=last.flat_buttons if last else [], numbered=bool(last and last.numbered))


def split_text(text: str) -> list[str]:
    """Parts of at most TEXT_BYTES UTF-8 bytes: a Chinese character is 3 bytes (4 for most emoji),
    so cutting at TEXT_BYTES // 4 characters is always safe, and the packer cuts at blank lines first."""
    return [p for p in split_message(text, TEXT_BYTES // 4) if p.strip()]


def _clip(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")
