"""hecnn from Python: encrypted multiclass logistic regression training on RNS-CKKS.

The client keeps the secret key; the server trains on ciphertexts with evaluation keys only.
Upload and model directories are the CLI's (``hecnn encrypt`` / ``train-server`` /
``decrypt-model``), so Python and the CLI interoperate.

>>> import numpy as np, hecnn
>>> client = hecnn.Client("training-2iter")                    # secret key stays here
>>> client.encrypt(features, labels, "upload")                  # -> upload/ for the server
>>> hecnn.Server("upload").train(2, "model")                    # server side: no secret key
>>> w, iterations = client.decrypt_model("model")               # checked, noise-flooded weights
"""

from __future__ import annotations

import os
from typing import Tuple

import numpy as np

from . import _hecnn
from ._hecnn import HecnnError

__all__ = ["Client", "Server", "HecnnError", "reference_train"]


def _matrix(a, name: str) -> list:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name}: a 2-D array (samples × features) is needed, got shape {a.shape}")
    return a.tolist()


def _labels(a) -> list:
    a = np.asarray(a)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"labels: a 1-D integer array is needed, got {a.dtype} of shape {a.shape}")
    return a.astype(np.int64).tolist()


class Client:
    """The client: fresh keys for a parameter preset; encrypts, then decrypts and checks."""

    def __init__(self, preset: str = "training-2iter", *, _inner=None):
        self._c = _inner if _inner is not None else _hecnn.Client(preset)

    @property
    def key_set(self) -> str:
        """The key set's id (hex), which binds every file of a job."""
        return self._c.key_set

    def encrypt(self, features, labels, out: os.PathLike | str, classes: int = 10, scaling: str = "max-abs") -> int:
        """Encrypts raw ``features`` (n × d) and ``labels`` (n) into the new upload directory ``out``."""
        return self._c.encrypt(_matrix(features, "features"), _labels(labels), os.fspath(out), classes, scaling)

    def decrypt_model(
        self, model: os.PathLike | str, private: bool = False, statistical_security: int | None = None
    ) -> Tuple[np.ndarray, int]:
        """The model's weights (classes × (1 + d), bias first) and its iterations, checked against
        the client's own plaintext reference; noise-flooded unless ``private``."""
        w, iterations = self._c.decrypt_model(os.fspath(model), private, statistical_security)
        return np.asarray(w, dtype=np.float64), iterations

    def save(self, directory: os.PathLike | str) -> None:
        """Secret key (mode 0600), parameters and the job record into the new ``directory``."""
        self._c.save(os.fspath(directory))

    @staticmethod
    def load(directory: os.PathLike | str) -> "Client":
        """A client saved with :meth:`save`."""
        return Client(_inner=_hecnn.Client.load(os.fspath(directory)))


class Server:
    """The server: trains on an upload directory with its evaluation keys only."""

    def __init__(self, upload: os.PathLike | str):
        self._s = _hecnn.Server(os.fspath(upload))

    def train(self, iterations: int, out: os.PathLike | str) -> int:
        """Runs ``iterations`` encrypted iterations; writes the encrypted model into ``out``."""
        return self._s.train(iterations, os.fspath(out))


def reference_train(features, labels, iterations: int, classes: int = 10, scaling: str = "max-abs") -> np.ndarray:
    """The same training in f64 on the raw features: W, classes × (1 + d)."""
    w = _hecnn.reference_train(_matrix(features, "features"), _labels(labels), iterations, classes, scaling)
    return np.asarray(w, dtype=np.float64)
