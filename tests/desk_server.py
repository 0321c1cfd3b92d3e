"""The desk sub-app mounted at /desk in a small Starlette, for the desk's browser tests until the web
app (web/app.py, `python bot.py web`) mounts it (uvicorn --factory desk_server:create_app)."""

from starlette.applications import Starlette
from starlette.routing import Mount

from desk.app import create_desk_app
from storage.db import make_engine


def create_app() -> Starlette:
    return Starlette(routes=[Mount("/desk", app=create_desk_app(engine=make_engine()))])
