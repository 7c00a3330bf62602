"""Transports: bytes and framing only. Each turns frames or lines into text messages for
a :class:`appserver.processor.Connection` and writes back what it yields."""

from __future__ import annotations
