"""The seed's engine: Broker, Data Generator, Results Aggregator, Workers, cyclic barrier.

==================  ===========================================================
``broker``          the Broker: owns the parent model, runs the iterations
``data_generator``  the Data Generator: sample assignments through a bounded queue
``worker``          the Worker: forward and backward pass on its samples
``aggregator``      the Results Aggregator: averages the results, updates a model
``slots``           where results travel: the shared result slots' layout
``strategies/``     how the workers train together (BSP, averaging, tensor, SSP/async,
                    Hogwild!): each one's worker loop and serial oracle, and their registry
``modes``           who applies a data-parallel update (``--aggregate``), what is sent
``averaging``       Algorithm 1, parameter averaging: its sample schedule
``barrier``         the cyclic barrier, for processes
``backends/``       what moves the data: serial, threads, processes, dask
``sequential``      N = 1: the reference every backend is held to
``shuffle``         every epoch's sample order (the seed's ``ShuffleSlice``)
``shm``             named arrays in one shared-memory block
``trace``           each worker's timeline
==================  ===========================================================
"""
