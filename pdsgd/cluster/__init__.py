"""A class's machines as one Dask cluster: ``pdsgd cluster serve`` and ``join``, with a bundle."""
