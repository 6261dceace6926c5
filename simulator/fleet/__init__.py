"""Fleet mode: many lightweight pole models against one broker, on one asyncio event loop
(``python -m simulator.fleet``; docs/scaling.md). Each model publishes through the agent's own
``Reporter`` on the agent's topics, so a fleet run exercises the real contract."""
