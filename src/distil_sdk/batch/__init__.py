"""Batch prediction over files and datasets, on this machine or on a Ray cluster.

`predict_dataset` runs ``LocalClassifier`` in a pool of Ray Data actors (install
``distil-sdk[ray]``); `predict_file` predicts one file into another, with the same columns,
locally or on Ray. Importing this package is cheap: Ray, pyarrow and torch load on first use.

Example:
    >>> from distil_sdk.batch import predict_dataset
    >>> ds = predict_dataset("tickets.parquet", "my-model.tar", top_k=3)  # doctest: +SKIP
    >>> ds.write_parquet("tickets-labelled/")                            # doctest: +SKIP
"""

from ._columns import BatchInputError
from ._files import predict_file
from ._ray import predict_dataset, read_dataset

__all__ = ["BatchInputError", "predict_dataset", "predict_file", "read_dataset"]
