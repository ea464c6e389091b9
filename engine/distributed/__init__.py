"""Scale-out on Dask: the overlay of a registry's partitions on a cluster's workers.

:mod:`rahat.engine.distributed.cluster` connects to a cluster (``local:N`` starts a
``LocalCluster`` of N worker processes; ``tcp://host:8786`` or ``RAHAT_DASK_SCHEDULER`` joins
a running scheduler); :mod:`rahat.engine.distributed.overlay` overlays each partition of the
registry (:mod:`rahat.geo.registry.partitions`) on a worker with the same kernels and gathers
the exposure in the registry's order, so that evaluation and outputs are those of one machine,
byte for byte.
"""
