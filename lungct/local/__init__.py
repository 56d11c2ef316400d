"""The embedded AWS: a moto server on loopback with the same resources as the CDK stacks."""
from __future__ import annotations

from lungct.local.resources import create_resources
from lungct.local.server import EmbeddedAws
from lungct.local.worker import Worker

__all__ = ["EmbeddedAws", "Worker", "create_resources"]
