#!/usr/bin/env python3
"""Export the bundled hecnn MNIST models to ONNX, without torch.

Reads the hecnn model file (format documented in
crates/hecnn-nn/src/model/format.rs), builds the same graph with onnx.helper
(residual Add nodes read two values) and writes:

  models/classifier.onnx   the whole classifier (10 logits)
  models/backbone.onnx     everything up to Flatten (240 features)

With --onnx FILE it writes only the whole network to FILE instead (used for
the residual network models/mnist_resnet.bin -> models/resnet.onnx).

With --test-models DIR it also writes small ONNX files the Rust tests use:

  DIR/mixed_ops.onnx       Conv(pads)+BatchNormalization+Relu+residual Add+
                           AveragePool+MaxPool(k3,s2)+Reshape+MatMul+Add, random
                           weights (seeded), to check import against tract
  DIR/aliased_bn.onnx      Conv read directly and through Identity+BatchNormalization
                           (BN must stay a separate affine), GlobalAveragePool, Gemm
                           with alpha/beta and transB=0
  DIR/unsupported_op.onnx  Conv -> Sigmoid (node "act_sigmoid"): must be rejected
  DIR/grouped_conv.onnx    a Conv with group=2 (node "conv_grouped"): must be rejected

Usage (from the repository root; needs `pip install onnx`, which brings numpy):

  python3 scripts/onnx/export_backbone.py --model models/mnist_cnn.bin --out-dir models \
      --test-models crates/hecnn-nn/tests/data
  python3 scripts/onnx/export_backbone.py --model models/mnist_resnet.bin --onnx models/resnet.onnx
"""

import argparse
import os
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MAGIC = b"HECNNMDL"
VERSION = 1
OPSET = 13


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError(f"truncated model file at byte {self.pos}")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def floats(self, n):
        return np.frombuffer(self.take(4 * n), dtype="<f4").astype(np.float32)


def read_model(path):
    """Parse a hecnn model file into (input_shape, nodes, output)."""
    r = Reader(open(path, "rb").read())
    if r.take(8) != MAGIC:
        raise ValueError("bad magic")
    if r.u32() != VERSION:
        raise ValueError("unsupported version")
    rank = r.u32()
    shape = [r.u32() for _ in range(rank)]
    nodes = []
    for _ in range(r.u32()):
        tag = r.u8()
        inputs = [r.u32() for _ in range(r.u8())]
        if tag == 1:
            out_c, in_c, kh, kw, sh, sw, pt, pl, pb, pr = [r.u32() for _ in range(10)]
            w = r.floats(out_c * in_c * kh * kw).reshape(out_c, in_c, kh, kw)
            b = r.floats(out_c)
            nodes.append(("Conv", inputs, dict(w=w, b=b, strides=[sh, sw], pads=[pt, pl, pb, pr])))
        elif tag == 2:
            c = r.u32()
            nodes.append(("Affine", inputs, dict(scale=r.floats(c), shift=r.floats(c))))
        elif tag == 3:
            nodes.append(("Relu", inputs, {}))
        elif tag in (4, 5):
            kh, kw, sh, sw = [r.u32() for _ in range(4)]
            op = "MaxPool" if tag == 4 else "AveragePool"
            nodes.append((op, inputs, dict(kernel_shape=[kh, kw], strides=[sh, sw])))
        elif tag == 6:
            out_d, in_d = r.u32(), r.u32()
            w = r.floats(out_d * in_d).reshape(out_d, in_d)
            nodes.append(("Linear", inputs, dict(w=w, b=r.floats(out_d))))
        elif tag == 7:
            nodes.append(("Add", inputs, {}))
        elif tag == 8:
            nodes.append(("Flatten", inputs, {}))
        else:
            raise ValueError(f"unknown tag {tag}")
    output = r.u32()
    if r.pos != len(r.data):
        raise ValueError("trailing bytes")
    return shape, nodes, output


def value_name(v):
    return "input" if v == 0 else f"v{v}"


def out_shape(op, x, p):
    """Per-sample output shape of one node for input shape x."""
    if op == "Conv":
        o, _, kh, kw = p["w"].shape
        pt, pl, pb, pr = p["pads"]
        sh, sw = p["strides"]
        return [o, (x[1] + pt + pb - kh) // sh + 1, (x[2] + pl + pr - kw) // sw + 1]
    if op in ("MaxPool", "AveragePool"):
        (kh, kw), (sh, sw) = p["kernel_shape"], p["strides"]
        return [x[0], (x[1] - kh) // sh + 1, (x[2] - kw) // sw + 1]
    if op == "Linear":
        return [p["w"].shape[0]]
    if op == "Flatten":
        return [int(np.prod(x))]
    return x


def to_onnx(shape, nodes, output, last_node, graph_name):
    """ONNX model of nodes[0..=last_node] with output = value last_node+1."""
    inits, onodes = [], []
    shapes = [list(shape)]
    for i, (op, inputs, p) in enumerate(nodes[: last_node + 1]):
        shapes.append(out_shape(op, shapes[inputs[0]], p))
        ins = [value_name(v) for v in inputs]
        out = value_name(i + 1)
        name = f"{op.lower()}{i}"
        if op == "Conv":
            inits += [numpy_helper.from_array(p["w"], f"{name}.weight"),
                      numpy_helper.from_array(p["b"], f"{name}.bias")]
            kh, kw = p["w"].shape[2:]
            onodes.append(helper.make_node("Conv", ins + [f"{name}.weight", f"{name}.bias"], [out], name=name,
                                           kernel_shape=[kh, kw], strides=p["strides"], pads=p["pads"]))
        elif op == "Affine":
            c = len(p["scale"])
            inits += [numpy_helper.from_array(p["scale"], f"{name}.scale"),
                      numpy_helper.from_array(p["shift"], f"{name}.shift"),
                      numpy_helper.from_array(np.zeros(c, np.float32), f"{name}.mean"),
                      numpy_helper.from_array(np.ones(c, np.float32), f"{name}.var")]
            onodes.append(helper.make_node("BatchNormalization",
                                           ins + [f"{name}.{s}" for s in ("scale", "shift", "mean", "var")],
                                           [out], name=name, epsilon=0.0))
        elif op == "Linear":
            inits += [numpy_helper.from_array(p["w"], f"{name}.weight"),
                      numpy_helper.from_array(p["b"], f"{name}.bias")]
            onodes.append(helper.make_node("Gemm", ins + [f"{name}.weight", f"{name}.bias"], [out], name=name,
                                           transB=1))
        elif op in ("MaxPool", "AveragePool"):
            onodes.append(helper.make_node(op, ins, [out], name=name, **p))
        elif op == "Flatten":
            onodes.append(helper.make_node("Flatten", ins, [out], name=name, axis=1))
        else:
            onodes.append(helper.make_node(op, ins, [out], name=name))
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N"] + list(shape))
    outp = helper.make_tensor_value_info(value_name(last_node + 1), TensorProto.FLOAT, ["N"] + shapes[last_node + 1])
    graph = helper.make_graph(onodes, graph_name, [inp], [outp], inits)
    return finish(graph)


def finish(graph):
    model = helper.make_model(graph, producer_name="hecnn export_backbone.py",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def f32(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def mixed_ops_model():
    rng = np.random.default_rng(7)
    c = 4
    inits = [
        numpy_helper.from_array(f32(rng, c, 1, 3, 3), "c1.w"),
        numpy_helper.from_array(f32(rng, c), "c1.b"),
        numpy_helper.from_array((1 + 0.2 * rng.standard_normal(c)).astype(np.float32), "bn.gamma"),
        numpy_helper.from_array(f32(rng, c, scale=0.1), "bn.beta"),
        numpy_helper.from_array(f32(rng, c, scale=0.1), "bn.mean"),
        numpy_helper.from_array((0.5 + rng.random(c)).astype(np.float32), "bn.var"),
        numpy_helper.from_array(f32(rng, c, c, 3, 3, scale=0.2), "c2.w"),
        numpy_helper.from_array(np.array([-1, c * 6 * 6], dtype=np.int64), "shape"),
        numpy_helper.from_array(f32(rng, c * 6 * 6, 10, scale=0.1), "fc.w"),
        numpy_helper.from_array(f32(rng, 10), "fc.b"),
    ]
    n = helper.make_node
    nodes = [
        n("Conv", ["input", "c1.w", "c1.b"], ["a"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["a", "bn.gamma", "bn.beta", "bn.mean", "bn.var"], ["b"], name="bn1",
          epsilon=1e-5),
        n("Relu", ["b"], ["r1"], name="relu1"),
        n("Conv", ["r1", "c2.w"], ["c"], name="conv2", pads=[1, 1, 1, 1]),
        n("Add", ["c", "r1"], ["d"], name="residual"),
        n("Relu", ["d"], ["e"], name="relu2"),
        n("AveragePool", ["e"], ["f"], name="avg", kernel_shape=[2, 2], strides=[2, 2]),
        n("MaxPool", ["f"], ["g"], name="max", kernel_shape=[3, 3], strides=[2, 2]),
        n("Reshape", ["g", "shape"], ["h"], name="reshape"),
        n("MatMul", ["h", "fc.w"], ["i"], name="fc"),
        n("Add", ["i", "fc.b"], ["logits"], name="fc_bias"),
    ]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])
    return finish(helper.make_graph(nodes, "mixed_ops", [inp], [out], inits))


def aliased_bn_model():
    """Conv output read twice (via an Identity alias): the BN must not be folded."""
    rng = np.random.default_rng(11)
    c = 3
    inits = [
        numpy_helper.from_array(f32(rng, c, 1, 3, 3), "w"),
        numpy_helper.from_array(f32(rng, c), "b"),
        numpy_helper.from_array((1 + 0.3 * rng.standard_normal(c)).astype(np.float32), "gamma"),
        numpy_helper.from_array(f32(rng, c, scale=0.2), "beta"),
        numpy_helper.from_array(f32(rng, c, scale=0.2), "mean"),
        numpy_helper.from_array((0.5 + rng.random(c)).astype(np.float32), "var"),
        numpy_helper.from_array(f32(rng, c, 5), "fc.w"),
        numpy_helper.from_array(f32(rng, 5), "fc.b"),
    ]
    n = helper.make_node
    nodes = [
        n("Conv", ["input", "w", "b"], ["a"], name="conv", kernel_shape=[3, 3], strides=[2, 2]),
        n("Identity", ["a"], ["a2"], name="alias"),
        n("BatchNormalization", ["a2", "gamma", "beta", "mean", "var"], ["bn"], name="bn", epsilon=1e-3),
        n("Add", ["a", "bn"], ["s"], name="sum"),
        n("Relu", ["s"], ["r"], name="relu"),
        n("GlobalAveragePool", ["r"], ["g"], name="gap"),
        n("Flatten", ["g"], ["f"], name="flat", axis=1),
        n("Gemm", ["f", "fc.w", "fc.b"], ["out"], name="fc", alpha=0.5, beta=2.0),
    ]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 5])
    return finish(helper.make_graph(nodes, "aliased_bn", [inp], [out], inits))


def single_conv_then(extra_node, conv_attrs, w_shape, name, out_shape):
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(f32(rng, *w_shape), "w")]
    nodes = [helper.make_node("Conv", ["input", "w"], ["a"], name=conv_attrs.pop("name", "conv"), **conv_attrs)]
    if extra_node is not None:
        nodes.append(extra_node)
    last = nodes[-1].output[0]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2, 8, 8])
    out = helper.make_tensor_value_info(last, TensorProto.FLOAT, ["N"] + out_shape)
    return finish(helper.make_graph(nodes, name, [inp], [out], inits))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/mnist_cnn.bin")
    ap.add_argument("--out-dir", default="models")
    ap.add_argument("--test-models", default=None)
    ap.add_argument("--onnx", default=None, help="write only the whole network to this file")
    ap.add_argument("--graph-name", default="hecnn_mnist_resnet", help="graph name with --onnx")
    a = ap.parse_args()

    shape, nodes, output = read_model(a.model)
    if a.onnx:
        model = to_onnx(shape, nodes, output, output - 1, a.graph_name)
        onnx.save(model, a.onnx)
        ops = sorted({n.op_type for n in model.graph.node})
        print(f"wrote {a.onnx}: {len(model.graph.node)} nodes ({', '.join(ops)})")
        return
    flatten = next(i for i, (op, _, _) in enumerate(nodes) if op == "Flatten")
    onnx.save(to_onnx(shape, nodes, output, output - 1, "hecnn_mnist_classifier"),
              os.path.join(a.out_dir, "classifier.onnx"))
    onnx.save(to_onnx(shape, nodes, output, flatten, "hecnn_mnist_backbone"),
              os.path.join(a.out_dir, "backbone.onnx"))
    print(f"wrote classifier.onnx and backbone.onnx (backbone ends at node {flatten}) in {a.out_dir}")

    if a.test_models:
        os.makedirs(a.test_models, exist_ok=True)
        onnx.save(mixed_ops_model(), os.path.join(a.test_models, "mixed_ops.onnx"))
        onnx.save(aliased_bn_model(), os.path.join(a.test_models, "aliased_bn.onnx"))
        sig = helper.make_node("Sigmoid", ["a"], ["s"], name="act_sigmoid")
        onnx.save(single_conv_then(sig, dict(kernel_shape=[3, 3]), (2, 2, 3, 3), "unsupported_op", [2, 6, 6]),
                  os.path.join(a.test_models, "unsupported_op.onnx"))
        onnx.save(single_conv_then(None, dict(name="conv_grouped", kernel_shape=[3, 3], group=2), (2, 1, 3, 3),
                                   "grouped_conv", [2, 6, 6]),
                  os.path.join(a.test_models, "grouped_conv.onnx"))
        print(f"wrote test models in {a.test_models}")


if __name__ == "__main__":
    main()
