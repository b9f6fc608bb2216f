"""Typed keys of the application's shared state (aiohttp ``AppKey``)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from consult.anchors import AnchorExporter
from consult.center import Center
from consult.events import EventBus
from consult.principal import Principal
from web.login_throttle import LoginThrottle
from web.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
CENTER = web.AppKey("center", Center)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
VERIFY_THROTTLE = web.AppKey("verify_throttle", LoginThrottle)
"""Unknown verification codes per client address (the public ``/verify`` page)."""
BUS: web.AppKey[EventBus] = web.AppKey("bus")
EXECUTOR = web.AppKey("executor", Executor)
ANCHORS = web.AppKey("anchors", AnchorExporter)
"""Writes the audit chain's head into the anchor directory (see :mod:`consult.anchors`)."""
STOPPING = web.AppKey("stopping", asyncio.Event)
"""Set when the server begins to stop (see :mod:`web.shutdown`)."""
PRINCIPAL = web.RequestKey("principal", Principal)
TOKEN = web.RequestKey("token", str)
METRICS_READER = web.RequestKey("metrics_reader", bool)
"""Set by the auth middleware on a request that presented the settings' ``metrics_token``."""
