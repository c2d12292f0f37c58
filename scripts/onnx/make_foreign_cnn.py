#!/usr/bin/env python3
"""A CNN this project has never seen, made with numpy + onnx only (no hecnn code).

Writes crates/hecnn-ml/tests/data/foreign_cnn.onnx: input [N, 1, 12, 12];
Conv(1->3, 3x3, stride 2, pads 1) + bias -> BatchNormalization -> Relu ->
Conv(3->4, 3x3, pads 1, no bias) -> Relu -> MaxPool(2x2) -> Flatten ->
Gemm(36->5, transB=1) -> Relu -> MatMul(5->3) + Add.  Random weights from
numpy's default_rng(2026). The encrypted-inference test imports it
unchanged and checks the ciphertext scores against the plaintext circuit.

Usage (from the repository root; needs `pip install onnx`):
  python3 scripts/onnx/make_foreign_cnn.py
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(2026)


def t(name, *shape, scale=0.5, offset=0.0):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale + offset).astype(np.float32), name)


inits = [
    t("c1.w", 3, 1, 3, 3), t("c1.b", 3, scale=0.1),
    t("bn.gamma", 3, scale=0.2, offset=1.0), t("bn.beta", 3, scale=0.1), t("bn.mean", 3, scale=0.1),
    numpy_helper.from_array((0.5 + rng.random(3)).astype(np.float32), "bn.var"),
    t("c2.w", 4, 3, 3, 3, scale=0.3),
    t("fc1.w", 5, 36, scale=0.3), t("fc1.b", 5, scale=0.1),
    t("fc2.w", 5, 3, scale=0.5), t("fc2.b", 3, scale=0.1),
]
n = helper.make_node
nodes = [
    n("Conv", ["x", "c1.w", "c1.b"], ["a"], name="stem", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    n("BatchNormalization", ["a", "bn.gamma", "bn.beta", "bn.mean", "bn.var"], ["b"], name="bn", epsilon=1e-5),
    n("Relu", ["b"], ["c"], name="relu1"),
    n("Conv", ["c", "c2.w"], ["d"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    n("Relu", ["d"], ["e"], name="relu2"),
    n("MaxPool", ["e"], ["f"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
    n("Flatten", ["f"], ["g"], name="flat", axis=1),
    n("Gemm", ["g", "fc1.w", "fc1.b"], ["h"], name="fc1", transB=1),
    n("Relu", ["h"], ["i"], name="relu3"),
    n("MatMul", ["i", "fc2.w"], ["j"], name="fc2"),
    n("Add", ["j", "fc2.b"], ["scores"], name="fc2_bias"),
]
graph = helper.make_graph(
    nodes, "foreign_cnn",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 12, 12])],
    [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])],
    inits,
)
model = helper.make_model(graph, producer_name="numpy+onnx", opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, "crates/hecnn-ml/tests/data/foreign_cnn.onnx")
print("wrote crates/hecnn-ml/tests/data/foreign_cnn.onnx")
