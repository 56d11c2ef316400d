"""The lungct CDK app: one stage per environment, one stack per concern.

``app.py`` composes; each concern is a construct in its own module (storage, inference, api,
training, monitoring); per-environment values come from ``settings.py`` (read from ``cdk.json``).
"""
