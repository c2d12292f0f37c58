"""hecnn from Python: encrypted multiclass logistic regression training on RNS-CKKS.

The client keeps the secret key; the server trains on ciphertexts with evaluation keys only.
Upload and model directories are the CLI's (``hecnn encrypt`` / ``train-server`` /
``decrypt-model``), so Python and the CLI interoperate.

>>> import numpy as np, hecnn
>>> client = hecnn.Client("training-2iter")                    # secret key stays here
>>> client.encrypt(features, labels, "upload")                  # -> upload/ for the server
>>> hecnn.Server("upload").train(2, "model")                    # server side: no secret key
>>> w, iterations = client.decrypt_model("model")               # checked, noise-flooded weights

Encrypted inference with a pre-trained CNN (precise composite ReLU and max-pool):

>>> server = hecnn.InferenceServer("bundled"); server.publish("published")
>>> client = hecnn.InferenceClient("published")                # keys for the published model
>>> client.encrypt(images, "upload"); server.infer("upload", "result")
>>> scores = client.decrypt_scores("result")                    # images × 10, checked
"""

from __future__ import annotations

import os
from typing import Tuple

import numpy as np

from . import _hecnn
from ._hecnn import HecnnError

__all__ = [
    "Client",
    "Server",
    "InferenceClient",
    "InferenceServer",
    "HecnnError",
    "reference_train",
    "mnist",
    "backbone_features",
]


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

    def encrypt(
        self,
        features,
        labels,
        out: os.PathLike | str,
        classes: int = 10,
        scaling: str = "max-abs",
        shards: int = 1,
    ) -> int:
        """Encrypts raw ``features`` (n × d) and ``labels`` (n) into the new upload directory ``out``.
        ``shards``: the machines the training will be sharded over — the block layout is chosen
        for a shard's samples, which keeps V (sent to every worker each iteration) small."""
        return self._c.encrypt(
            _matrix(features, "features"), _labels(labels), os.fspath(out), classes, scaling, shards
        )

    def decrypt_model(
        self, model: os.PathLike | str, private: bool = False, statistical_security: int | None = None
    ) -> Tuple[np.ndarray, int]:
        """The model's weights (classes × (1 + d), bias first) and its iterations, checked against
        the client's own plaintext reference; noise-flooded unless ``private``."""
        w, iterations = self._c.decrypt_model(os.fspath(model), private, statistical_security)
        return np.asarray(w, dtype=np.float64), iterations

    def evaluate(self, w, features, labels) -> float:
        """Accuracy of weights ``w`` (what :meth:`decrypt_model` returns) on raw ``features`` and
        ``labels`` (a test set), scaled as this client's job scaled its training data."""
        return self._c.evaluate(_matrix(w, "w"), _matrix(features, "features"), _labels(labels))

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
        self._upload = os.fspath(upload)
        self._s = _hecnn.Server(self._upload)

    def train(self, iterations: int, out: os.PathLike | str, *, stream: bool = False) -> int:
        """Runs ``iterations`` encrypted iterations; writes the encrypted model into ``out``.

        With ``stream=True`` the sample blocks are read from the upload a few at a time at every
        iteration instead of held (memory for the keys and 1 GiB of blocks, for uploads larger
        than memory; the same model, bit for bit); otherwise an upload over 16 GiB is refused."""
        if not stream:
            return self._s.train(iterations, os.fspath(out))
        driver = _hecnn.Driver(self._upload, iterations)
        worker = _hecnn.ShardWorker.streaming(self._upload, 0, 1)
        for t in range(iterations):
            driver.update([worker.gradient(driver.v(), t)])
        return driver.save_model(os.fspath(out))


def _images(images, length: int) -> list:
    """MNIST-style uint8 images (pixels 0–255) or floats in [0, 1], one row of ``length`` each."""
    a = np.asarray(images)
    if a.dtype == np.uint8:
        a = a.astype(np.float64) / 255.0
    a = np.asarray(a, dtype=np.float64)
    if a.ndim < 2 or a[0].size != length:
        raise ValueError(f"images: {length} pixels each needed, got shape {a.shape}")
    return a.reshape(a.shape[0], length).tolist()


class InferenceServer:
    """The inference server: compiles a bundled model (``bundled``, ``residual``) for encrypted
    inference with precise composite ReLU and max-pool; holds no secret."""

    def __init__(self, model: str = "bundled", *, _inner=None):
        self._s = _inner if _inner is not None else _hecnn.InferenceServer(model)

    @staticmethod
    def insecure_toy() -> "InferenceServer":
        """A tiny model (8×8 images, 3 classes) on an insecure ring: tests only."""
        return InferenceServer(_inner=_hecnn.InferenceServer.insecure_toy())

    @property
    def name(self) -> str:
        return self._s.name

    def simulate(self, images) -> np.ndarray:
        """The compiled circuit in f64 (same composite polynomials, no encryption): what the
        decrypted scores should be, up to the CKKS noise."""
        return np.asarray(self._s.simulate(_images(images, self._s.image_len)), dtype=np.float64)

    def publish(self, directory: os.PathLike | str) -> None:
        """``spec.json`` and ``params.bin`` for clients, into ``directory``."""
        self._s.publish(os.fspath(directory))

    def infer(self, upload: os.PathLike | str, out: os.PathLike | str) -> int:
        """Runs the model on an encrypted upload; writes the encrypted scores into ``out``."""
        return self._s.infer(os.fspath(upload), os.fspath(out))


class InferenceClient:
    """The inference client: fresh keys for a published model; encrypts images, decrypts scores."""

    def __init__(self, published: os.PathLike | str, *, insecure_for_tests: bool = False):
        self._c = _hecnn.InferenceClient(os.fspath(published), insecure_for_tests)

    def encrypt(self, images, out: os.PathLike | str) -> int:
        """Encrypts ``images`` (uint8 pixels 0–255, or floats in [0, 1]) and the evaluation keys into
        the new upload directory ``out``."""
        return self._c.encrypt(_images(images, self._c.image_len), os.fspath(out))

    def decrypt_scores(self, result: os.PathLike | str) -> np.ndarray:
        """The checked scores (images × outputs) of the images this client encrypted."""
        return np.asarray(self._c.decrypt_scores(os.fspath(result)), dtype=np.float64)


def reference_train(features, labels, iterations: int, classes: int = 10, scaling: str = "max-abs") -> np.ndarray:
    """The same training in f64 on the raw features: W, classes × (1 + d)."""
    w = _hecnn.reference_train(_matrix(features, "features"), _labels(labels), iterations, classes, scaling)
    return np.asarray(w, dtype=np.float64)


def mnist(split: str = "train", count: int | None = None, directory: os.PathLike | str | None = None):
    """``(images, labels)`` of the bundled MNIST split (``train``: 60,000, ``test``: 10,000), the
    first ``count``: images ``uint8`` of shape (n, 28, 28), labels ``int64``."""
    d = None if directory is None else os.fspath(directory)
    images, labels = _hecnn.mnist(split, count, d)
    labels = np.frombuffer(labels, dtype=np.uint8).astype(np.int64)
    return np.frombuffer(images, dtype=np.uint8).reshape(len(labels), 28, 28).copy(), labels


def backbone_features(images) -> np.ndarray:
    """The bundled frozen backbone's 240 features of each image (n × 28 × 28, pixels 0–255), in
    plaintext on the client: what transfer learning trains the encrypted classifier on."""
    a = np.asarray(images)
    if a.ndim != 3 or a.shape[1:] != (28, 28) or a.dtype != np.uint8:
        raise ValueError(f"images: uint8 of shape (n, 28, 28) needed, got {a.dtype} of shape {a.shape}")
    out = _hecnn.backbone_features(np.ascontiguousarray(a).tobytes())
    return np.frombuffer(out, dtype="<f8").reshape(a.shape[0], -1).copy()
