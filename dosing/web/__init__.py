"""The web application: pages for the ward, the pharmacy and the coordinator, calendar feeds and a
JSON API, on FastAPI with server-rendered Jinja2 templates and htmx.

Routes only translate HTTP to and from the use cases in :mod:`dosing.app`; no dosing rule lives here.
"""
