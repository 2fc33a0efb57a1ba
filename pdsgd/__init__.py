"""pdsgd: parallel and distributed SGD, taught.

A NumPy MLP on a flat parameter buffer (:class:`MLP`), the seed's bulk-synchronous
data-parallel engine (Broker, Data Generator, Results Aggregator, Workers, cyclic
barrier) behind one training call (:func:`train`), and the datasets they run on
(:func:`load_dataset`).
"""

__version__ = "0.1.0"  # first: modules read it while the package is being imported

from pdsgd.data.datasets import DATASETS, Dataset, load_dataset
from pdsgd.errors import DataError, PdsgdError
from pdsgd.mlp import MLP
from pdsgd.train import TrainResult, train

__all__ = ["DATASETS", "DataError", "Dataset", "MLP", "PdsgdError", "TrainResult",
           "load_dataset", "train"]
