"""Build incoming Telegram update dicts for tests: a private text message (a command when the text
starts with "/", with the bot_command entity PTB's CommandHandler needs) and a callback query.

Feed them to ``Update.de_json(update, app.bot)`` or to ``FakeBotApi.push_update``.
"""

from __future__ import annotations

import time
from typing import Any

BOT_USER = {"id": 999000, "is_bot": True, "first_name": "童助", "username": "tongzhu_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


def user(user_id: int, first_name: str = "奶奶") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}


def private_chat(user_id: int, first_name: str = "奶奶") -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": first_name}


def text_message(message_id: int, user_id: int, text: str, first_name: str = "奶奶") -> dict[str, Any]:
    message = {"message_id": message_id, "from": user(user_id, first_name),
               "chat": private_chat(user_id, first_name), "date": int(time.time()), "text": text}
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return message


def text_update(update_id: int, user_id: int, text: str, first_name: str = "奶奶") -> dict[str, Any]:
    """A private message from ``user_id``; "/start x" carries a bot_command entity for "/start"."""
    return {"update_id": update_id, "message": text_message(update_id, user_id, text, first_name)}


def command_update(update_id: int, user_id: int, command: str, args: str = "",
                   first_name: str = "奶奶") -> dict[str, Any]:
    text = "/" + command.lstrip("/") + (" " + args if args else "")
    return text_update(update_id, user_id, text, first_name)


def callback_update(update_id: int, user_id: int, data: str, message_id: int = 1,
                    message_text: str = "…", first_name: str = "奶奶",
                    reply_markup: dict | None = None) -> dict[str, Any]:
    """The user pressed an inline button with ``data`` under the bot's message ``message_id``."""
    message = {"message_id": message_id, "from": BOT_USER, "chat": private_chat(user_id, first_name),
               "date": int(time.time()), "text": message_text}
    if reply_markup:
        message["reply_markup"] = reply_markup
    return {"update_id": update_id,
            "callback_query": {"id": f"cq{update_id}", "from": user(user_id, first_name),
                               "chat_instance": f"ci{user_id}", "data": data, "message": message}}
