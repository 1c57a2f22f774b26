"""The int8 graph of the ONNX runtime: int8 weights, and activations quantized per token.

ONNX Runtime's dynamic quantization (``quantize_dynamic``) gives the encoder's
matrix multiplications per-channel int8 weights, and quantizes each one's input
with one range for the whole batch: a text's energies then depend on the texts
batched with it. :func:`per_token_activations` rewrites that graph so each token's
activations have their own symmetric range (its largest absolute value), rounded up
to 4 significant bits so that float noise from other batch shapes cannot move it.
Nothing then depends on a text's batch mates, and the ranges are tighter than one
per batch. The head stays in fp32 (it is small, and its errors go straight into the
energies). Benchmarks: ``benchmarks/int8_static.py`` and ``benchmarks/runtimes.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eqn.errors import ModelError

# Significant bits kept of each token's range: a range moves only when its largest
# value crosses one of 16 steps per octave.
RANGE_STEPS = 16
PREFIX = "per_token"


def head_nodes(names: Sequence[str]) -> list[str]:
    """The nodes that int8 leaves in fp32: the head's."""
    return [name for name in names if "/head/" in name]


def quantize_int8(
    fp32: Path, target: Path, keep_fp32: Sequence[str] | None = None, per_token: bool = True
) -> None:
    """Write ``fp32``'s int8 graph to ``target``: every encoder layer int8, the head
    fp32 (or ``keep_fp32``'s nodes, to compare recipes); activations per token, or per
    batch (ONNX Runtime's own, batch-dependent) with ``per_token=False``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if keep_fp32 is None:
        graph = onnx.load(str(fp32), load_external_data=False).graph
        keep_fp32 = head_nodes([node.name for node in graph.node])
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime advises pre-processing via the root logger
    try:
        quantize_dynamic(
            str(fp32),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=list(keep_fp32),
        )
    finally:
        root.setLevel(level)
    if per_token:
        model = onnx.load(str(target))
        onnx.save(per_token_activations(model), str(target))


def per_token_activations(model: Any) -> Any:
    """``model`` (from ``quantize_dynamic``) with each ``DynamicQuantizeLinear`` replaced
    by a per-token quantization, and each ``MatMulInteger -> Cast -> Mul(scales)`` by
    ``MatMulIntegerToFloat`` (weights' scales) times the tokens' scales.

    ONNX Runtime's fusion of ``MatMulInteger -> Cast -> Mul`` assumes one activation
    scale per tensor, so the per-token scale is applied after the fused product.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    constants = {
        "inv_ln2": np.array(1 / np.log(2), dtype=np.float32),
        "two": np.array(2.0, dtype=np.float32),
        "steps": np.array(float(RANGE_STEPS), dtype=np.float32),
        "to_scale": np.array(1 / (127 * RANGE_STEPS), dtype=np.float32),
        "tiny": np.array(1e-12, dtype=np.float32),
        "one": np.array(1.0, dtype=np.float32),
        "zero_point": np.array(128, dtype=np.uint8),
        "last": np.array([-1], dtype=np.int64),
        "end": np.array([2**62], dtype=np.int64),
    }
    graph.initializer.extend(
        numpy_helper.from_array(value, f"{PREFIX}/{name}") for name, value in constants.items()
    )

    def c(name: str) -> str:
        return f"{PREFIX}/{name}"

    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced: dict[str, list[Any]] = {}  # a node's name -> the nodes in its place
    zero_points, token_scales = set(), set()
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            replaced[node.name] = _quantize_per_token(node, opset, c, helper)
            token_scales.add(node.output[1])
            zero_points.add(node.output[2])
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        try:
            (cast,) = consumers[node.output[0]]
            (mul,) = consumers[cast.output[0]]
            (scales_name,) = [name for name in mul.input if name != cast.output[0]]
            scales = producer[scales_name]
            (token_scale,) = [name for name in scales.input if name in token_scales]
            (weight_scale,) = [name for name in scales.input if name != token_scale]
        except (KeyError, ValueError):
            raise ModelError(
                f"the int8 rewrite met a graph it does not know at {node.name}; use the "
                "runtime 'onnx'"
            ) from None
        if cast.op_type != "Cast" or mul.op_type != "Mul" or scales.op_type != "Mul":
            raise ModelError(f"the int8 rewrite met an unexpected pattern at {node.name}")
        product = f"{node.name}/{PREFIX}/float"
        replaced[node.name] = [
            helper.make_node(
                "MatMulIntegerToFloat",
                [node.input[0], node.input[1], c("one"), weight_scale, *node.input[2:4]],
                [product],
                name=f"{node.name}/{PREFIX}/MatMulIntegerToFloat",
                domain="com.microsoft",
            ),
            helper.make_node(
                "Mul", [product, token_scale], [mul.output[0]], name=f"{node.name}/{PREFIX}/Mul"
            ),
        ]
        replaced[cast.name] = replaced[mul.name] = []
        if len(consumers[scales_name]) == 1:
            replaced[scales.name] = []
    nodes = [new for node in graph.node for new in replaced.get(node.name, [node])]
    for node in nodes:  # every zero point is now the fixed 128 of symmetric uint8
        for position, name in enumerate(node.input):
            if name in zero_points:
                node.input[position] = c("zero_point")
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


def _quantize_per_token(node: Any, opset: int, c: Any, helper: Any) -> list[Any]:
    """Nodes that quantize ``node``'s input per token (last axis) to uint8 around 128,
    writing its quantized output and its scale (one per token, shape [..., 1])."""
    x = node.input[0]
    quantized, scale, _ = node.output
    p = f"{node.name}/{PREFIX}"

    def n(op: str, inputs: list[str], output: str, **attributes: Any) -> Any:
        return helper.make_node(op, inputs, [output], name=f"{p}/{output}", **attributes)

    def reduce(op: str, output: str) -> Any:  # over the last axis, without writing |x|
        if opset >= 18:
            return n(op, [x, c("last")], output, keepdims=1)
        return n(op, [x], output, axes=[-1], keepdims=1)

    return [
        reduce("ReduceMax", f"{p}/largest"),
        reduce("ReduceMin", f"{p}/smallest"),
        n("Neg", [f"{p}/smallest"], f"{p}/negated"),
        n("Max", [f"{p}/largest", f"{p}/negated", c("tiny")], f"{p}/range"),
        # The range rounded up to RANGE_STEPS steps per octave: 2^e * ceil(r / 2^e * S) / S.
        n("Log", [f"{p}/range"], f"{p}/ln"),
        n("Mul", [f"{p}/ln", c("inv_ln2")], f"{p}/log2"),
        n("Floor", [f"{p}/log2"], f"{p}/octave"),
        n("Pow", [c("two"), f"{p}/octave"], f"{p}/base"),
        n("Div", [f"{p}/range", f"{p}/base"], f"{p}/mantissa"),
        n("Mul", [f"{p}/mantissa", c("steps")], f"{p}/steps"),
        n("Ceil", [f"{p}/steps"], f"{p}/step"),
        n("Mul", [f"{p}/step", f"{p}/base"], f"{p}/rounded"),
        n("Mul", [f"{p}/rounded", c("to_scale")], scale),
        # QuantizeLinear takes one scale per row of a 2-D tensor: [tokens, hidden].
        n("Shape", [x], f"{p}/shape"),
        n("Slice", [f"{p}/shape", c("last"), c("end")], f"{p}/hidden"),
        n("Concat", [c("last"), f"{p}/hidden"], f"{p}/rows_shape", axis=0),
        n("Reshape", [x, f"{p}/rows_shape"], f"{p}/rows"),
        n("Reshape", [scale, c("last")], f"{p}/row_scales"),
        n("Shape", [f"{p}/row_scales"], f"{p}/row_count"),
        n("Expand", [c("zero_point"), f"{p}/row_count"], f"{p}/row_zero_points"),
        n(
            "QuantizeLinear",
            [f"{p}/rows", f"{p}/row_scales", f"{p}/row_zero_points"],
            f"{p}/quantized_rows",
            axis=0,
        ),
        n("Reshape", [f"{p}/quantized_rows", f"{p}/shape"], quantized),
    ]
