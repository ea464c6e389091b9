"""Where ``rahat demo`` keeps its synthetic registry, so the CLI and the service agree on it.

The demo registry is built once by ``rahat demo`` (:func:`rahat.geo.registry.synth.write_demo`)
in the cache; ``rahat serve`` uses it when ``RAHAT_REGISTRY_PATH`` is not set.
"""

from __future__ import annotations

from pathlib import Path

#: Households in the demo population (the registered subset is about 84% of it).
DEMO_HOUSEHOLDS = 300_000
#: Seed of the demo population.
DEMO_SEED = 2022


def demo_registry_path(households: int = DEMO_HOUSEHOLDS, seed: int = DEMO_SEED) -> Path:
    """Return the cached demo registry file of ``households`` and ``seed`` (built or not)."""
    from rahat.geo.paths import cache_dir

    return cache_dir() / "demo" / f"households-{households}-seed-{seed}" / "registry.parquet"
