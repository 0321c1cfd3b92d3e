"""The office desk on the web (/desk): accounts, queue, case page, actions, print, dashboard, admin.

An adapter over the case service (casework/), like the Telegram desk (casework/staff.py)."""
