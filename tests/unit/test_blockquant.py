"""GGUF block weights written back exactly as MatMulNBits: recovered from dequantized fp32, run by onnxruntime,
and equal to the fp32 MatMul where round-to-nearest 4-bit is not."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from workbench.models.blockquant import exact_blocks, q4_1, q8_0

K, N = 96, 40


def _q4_1(rng) -> np.ndarray:
    """A [K, N] weight as a Q4_1 GGUF dequantizes it: per block of 32 inputs, d·q + m in fp16 steps."""
    d = rng.uniform(0.001, 0.05, (N, K // 32)).astype(np.float16).astype(np.float32)
    m = (-d * rng.uniform(0, 15, d.shape)).astype(np.float16).astype(np.float32)
    q = rng.integers(0, 16, (N, K // 32, 32))
    q[..., 0], q[..., 1] = 0, 15  # Q4_1 puts the block's minimum at 0 and maximum at 15
    return (d[..., None] * q + m[..., None]).reshape(N, K).T.astype(np.float32)


def _q8_0(rng) -> np.ndarray:
    d = rng.uniform(0.001, 0.02, (N, K // 32)).astype(np.float16).astype(np.float32)
    q = rng.integers(-127, 128, (N, K // 32, 32))
    q[..., 0] = 127
    return (d[..., None] * q).reshape(N, K).T.astype(np.float32)


def _graph(w: np.ndarray) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, K])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, N])
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g", [x], [y],
                          [numpy_helper.from_array(w, "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_blocks_are_recovered_exactly_and_other_weights_are_not_claimed():
    rng = np.random.default_rng(0)
    w = _q4_1(rng)
    q, d, z, r = q4_1(w)
    rebuilt = (d[..., None] * (q.astype(np.float32) - z[..., None]) + r[..., None]).reshape(N, K).T
    assert np.abs(rebuilt - w).max() < 1e-6
    assert q.max() <= 15 and z.max() <= 15 and np.all(np.abs(r) <= d / 2 + 1e-6)
    assert q8_0(_q8_0(rng)) is not None
    assert q4_1(rng.normal(size=(K, N)).astype(np.float32)) is None
    assert q8_0(rng.normal(size=(K, N)).astype(np.float32)) is None
    assert q4_1(rng.normal(size=(K + 1, N)).astype(np.float32)) is None  # not whole blocks


@pytest.mark.parametrize("make", [_q4_1, _q8_0])
def test_rewritten_graph_computes_the_fp32_matmul(make):
    rng = np.random.default_rng(1)
    w, x = make(rng), rng.normal(size=(1, 3, K)).astype(np.float32)
    model = _graph(w)
    counts = exact_blocks(model, accuracy_level=0)  # fp32 arithmetic: only the weights' representation is tested
    assert counts["q4_1" if make is _q4_1 else "q8_0"] == 1
    assert [n.op_type for n in model.graph.node].count("MatMulNBits") == 1
    assert "w" not in {t.name for t in model.graph.initializer}
    np.testing.assert_allclose(_run(model, x), x @ w, rtol=1e-4, atol=1e-4)


def test_exact_blocks_beat_round_to_nearest_4_bit():
    """The reason it exists: re-quantizing a Q4_1 weight to 4 bits rounds it twice."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    rng = np.random.default_rng(2)
    w, x = _q4_1(rng), rng.normal(size=(1, 3, K)).astype(np.float32)
    rtn = _graph(w)
    q = MatMulNBitsQuantizer(rtn, bits=4, block_size=32, is_symmetric=False, accuracy_level=0)
    q.process()
    exact = _graph(w)
    exact_blocks(exact, accuracy_level=0)
    err_rtn = np.abs(_run(q.model.model, x) - x @ w).max()
    err_exact = np.abs(_run(exact, x) - x @ w).max()
    assert err_exact < err_rtn / 10


def test_a_model_without_gguf_blocks_is_left_alone():
    model = _graph(np.random.default_rng(3).normal(size=(K, N)).astype(np.float32))
    before = model.SerializeToString()
    assert exact_blocks(model) == {"q4_1": 0, "q8_0": 0, "added": []}
    assert model.SerializeToString() == before
