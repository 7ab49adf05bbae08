"""Airflow plugin: the population-data view (人口数据) in the Airflow UI.

Airflow 3 mounts ``fastapi_apps`` in its API server (``airflow/api_fastapi/app.py``,
``init_plugins``): the view is served at ``/popdata/``. ``external_views`` puts a link in the UI's
navigation; the UI shows the page at ``/plugin/popdata`` in an iframe whose ``src`` is ``href``
resolved against the UI's ``<base href>`` (the API server's base path), so ``href`` is written
without a leading slash and works under any base URL.

The village intake app (村级直报, :mod:`popdata.intake.app`) is mounted at ``/village/``: clerks
sign in there with their village's token, not with an Airflow login, so it has no nav link. A root
middleware redirects ``/village`` and ``/popdata`` (no slash) to the mount points, which Airflow's
UI would otherwise take.

Light on purpose: the API server imports this file at start. Nothing here touches the database;
the pages query the warehouse when they are opened (popdata.dashboard.app).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from popdata.dashboard.app import create_app
from popdata.intake.app import AddTrailingSlash
from popdata.intake.app import create_app as create_village_app

NAME = "人口数据 / Population data"  # Chinese first: the narrow nav cuts the end
VILLAGE_NAME = "村级直报 / Village reports"


class PopdataViewPlugin(AirflowPlugin):
    """Mounts the population-data view at ``/popdata`` (linked from the Airflow UI navigation) and
    the village intake app at ``/village``."""

    name = "popdata"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(), "url_prefix": "/popdata", "name": NAME},
        {"app": create_village_app(), "url_prefix": "/village", "name": VILLAGE_NAME},
    ]
    fastapi_root_middlewares: ClassVar[list[dict[str, Any]]] = [
        {
            "middleware": AddTrailingSlash,
            "kwargs": {"paths": ("/village", "/popdata")},
            "name": "popdata: /village and /popdata → their mount points",
        }
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": NAME,
            "href": "popdata/",
            "url_route": "popdata",
            "destination": "nav",
            "icon": "popdata/icon.svg",
            "nav_top_level": True,
        }
    ]
