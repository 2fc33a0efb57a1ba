"""The datasets: the embedded MNIST digits, MNIST, Fashion-MNIST, synthetic data.

``datasets`` loads them (:func:`load_dataset`), ``idx`` and ``mnist_csv`` read
the two file formats, ``fetch`` downloads and verifies the official files.
"""

from pdsgd.data.datasets import DATASETS, Dataset, load_dataset

__all__ = ["DATASETS", "Dataset", "load_dataset"]
