"""Rahat's benchmarks (``rahat bench ...``): each times a whole path against a reference.

Installed as ``rahat.benchmarks``; never imported by the library (``rahat.geo``,
``rahat.engine``, ``rahat.api``), only by the ``rahat bench`` commands (inside each command)
and by the tests, which use its synthetic data builders and run small versions of some
benchmarks.

Modules
-------
common
    Peak and current memory, median timing.
overlay
    ``rahat bench overlay``: the overlay against geopandas + rasterio.
coldstart
    ``rahat bench cold-start``: first overlay with an empty, then a warm, numba cache.
e2e, e2e_data
    ``rahat bench e2e``: the whole ``rahat run`` against the analyst's pipeline.
policy
    ``rahat bench policy`` and the synthetic registry and exposure the tests evaluate.
hazards
    ``rahat bench hazard-inspect``: ``rahat hazard inspect`` on a large tiled GeoTIFF.
api
    ``rahat bench api``: API latency under concurrent clients, CSV export throughput.
prepared
    Vector footprint preparation, cold and from the cache.
page
    ``rahat bench page``: the planners' page's what-if round trip in a real browser.
trigger
    ``rahat bench trigger``: a trigger over a national ensemble forecast, and activation to
    caseload.
"""
