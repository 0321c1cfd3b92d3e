"""End-to-end helpers: the real `python bot.py` as a subprocess against botapi_fakes.FakeBotApi.

- ``process``: start the bot (long polling or ``--webhook``), stop it with SIGTERM, kill it.
- ``users``: scripted users that push updates and wait (bounded) for the bot's answer.
- ``pg``: a fresh PostgreSQL schema per test, or a skip when no server is reachable.
"""
