"""Offline Telegram for tests and benchmarks.

- ``spec``: check a Bot API call against the machine-readable spec and Telegram's limits.
- ``offline``: ``OfflineRequest``, an in-process ``telegram.request.BaseRequest`` that records calls.
- ``updates``: build incoming update dicts (text, command, callback query).
- ``server``: ``FakeBotApi``, a fake Bot API HTTP server on 127.0.0.1 with long polling and webhooks.
"""
