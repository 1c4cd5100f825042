"""Load generators for NEXUS Edge: Locust device swarms, load shapes and a fleet load.

Two kinds of module live here, and the split matters:

- **Locust modules** (``locustfile``, ``users``, ``session``, ``shapes``): they import locust,
  which monkey-patches the standard library with gevent on import. Only a Locust process
  imports them (``locust -f load/locustfile.py``).
- **Plain modules** (everything else): payload generation (``telemetry``), the ledger
  (``ledger``), the end-to-end sampler (``sampler``), historian look-ups (``historian``), load
  profiles (``profiles``), options (``options``), targets (``target``), the device's MQTT
  connection (``device``), and the asyncio programs ``python -m load.smoke`` and
  ``python -m load.fleet``. They never import locust or gevent, so pytest may import them.

docs/load-testing.md describes how to run everything and how to read the results.
"""
