"""lungct: a second reader for chest CT slices, as serverless batch inference on AWS.

Research use only, not for diagnostic use.
"""
from __future__ import annotations

__version__ = "0.1.0"

DISCLAIMER = "Research use only, not for diagnostic use."

__all__ = ["DISCLAIMER", "__version__"]
