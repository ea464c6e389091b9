"""The household registry: schema, model, readers, writers, validation and the demo generator."""

from rahat.geo.registry.model import Registry
from rahat.geo.registry.schema import COLUMNS, REQUIRED_COLUMNS, Dwelling, Livelihood

__all__ = ["COLUMNS", "REQUIRED_COLUMNS", "Dwelling", "Livelihood", "Registry"]
