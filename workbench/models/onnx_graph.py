"""Edits to Optimum's traced ONNX graph of a causal LM, and saving the result.

Why edit at all: the traced graph spends ~3,000 tiny nodes per decoded token on shape arithmetic,
rotary embedding, repeat-kv and masking; on a 2-core CPU their dispatch costs more than the matmuls.
For Llama-family models each layer's attention core becomes one ``GroupQueryAttention`` node (rotary
inside, KV cache read and written in place), q/k/v become one packed matmul, and an optional
``logits_to_keep`` input lets prefill skip the 49k-wide output layer for every prompt position but
the last. Parity against PyTorch (``workbench.parity``) is what licenses the edit.
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import WorkbenchError

__all__ = ["FUSABLE", "KV_SHARED", "STATIC_ROPE", "add_logits_to_keep", "fuse_attention", "prune", "rope_tables",
           "save_model", "topo_sort", "untie_lm_head"]

KV_SHARED = "workbench.kv_cache"  # model metadata key: "shared" when past and present may be one buffer
FUSABLE = ("llama",)  # model types whose traced attention is replaced by GroupQueryAttention
STATIC_ROPE = ("default", "linear", "llama3")  # rope types with a position-independent frequency table


def rope_tables(config):
    """cos/sin tables (max_positions x head_dim/2) computed exactly as transformers' Llama does."""
    import torch
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaling = getattr(config, "rope_scaling", None) or {}
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type not in STATIC_ROPE:
        return None
    inv_freq, attention_scaling = ROPE_INIT_FUNCTIONS[rope_type](config, "cpu")
    pos = torch.arange(config.max_position_embeddings, dtype=torch.float32)
    freqs = (inv_freq.float()[None, :, None] @ pos[None, None, :]).transpose(1, 2)[0]
    return ((freqs.cos() * attention_scaling).numpy(), (freqs.sin() * attention_scaling).numpy())


def _scope_nodes(graph, scope: str) -> list:
    return [n for n in graph.node if n.name.startswith(scope)]


def prune(graph) -> None:
    """Drop nodes, initializers and inputs that no graph output depends on."""
    producer = {o: k for k, n in enumerate(graph.node) for o in n.output}
    needed, used, stack = set(), set(), [o.name for o in graph.output]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        k = producer.get(name)
        if k is None or k in used:
            continue
        used.add(k)
        n = graph.node[k]
        stack.extend(i for i in n.input if i)
        for attr in n.attribute:  # subgraphs (If/Loop) read outer names too
            for sub in ([attr.g] if attr.g.node else []) + list(attr.graphs):
                stack.extend(i for s in sub.node for i in s.input if i)
    keep = [n for k, n in enumerate(graph.node) if k in used]
    del graph.node[:]
    graph.node.extend(keep)
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    inputs = [i for i in graph.input if i.name in needed]
    del graph.input[:]
    graph.input.extend(inputs)


def fuse_attention(model, config) -> bool:
    """Replace each layer's traced attention with GroupQueryAttention; False (graph untouched) if the
    graph is not the Llama layout this expects."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    if config.model_type not in FUSABLE or getattr(config, "sliding_window", None):
        return False
    tables = rope_tables(config)
    if tables is None:
        return False
    g = model.graph
    init = {t.name: t for t in g.initializer}
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    producers = {o: n for n in g.node for o in n.output}
    plan = []
    for i in range(config.num_hidden_layers):
        scope = f"/model/layers.{i}/self_attn/"
        proj = {}
        for p in ("q_proj", "k_proj", "v_proj"):
            found = _scope_nodes(g, f"{scope}{p}/")
            if len(found) != 1 or found[0].op_type != "MatMul" or found[0].input[1] not in init:
                return False
            proj[p] = found[0]
        o_proj = [n for n in _scope_nodes(g, f"{scope}o_proj/") if n.op_type == "MatMul"]
        pk, pv = producers.get(f"present.{i}.key"), producers.get(f"present.{i}.value")
        if len(o_proj) != 1 or pk is None or pv is None or len({n.input[0] for n in proj.values()}) != 1:
            return False
        plan.append((i, proj, o_proj[0], pk, pv))

    drop = set()
    new_nodes, new_inits = [], []
    cos, sin = tables
    new_inits += [numpy_helper.from_array(cos.astype(np.float32), "wb_rope_cos"),
                  numpy_helper.from_array(sin.astype(np.float32), "wb_rope_sin"),
                  numpy_helper.from_array(np.array([1], dtype=np.int64), "wb_axis_1"),
                  numpy_helper.from_array(np.array(1, dtype=np.int64), "wb_one"),
                  numpy_helper.from_array(np.array(1, dtype=np.int64), "wb_index_1")]
    new_nodes += [
        helper.make_node("ReduceSum", ["attention_mask", "wb_axis_1"], ["wb_mask_sum"], keepdims=0,
                         name="/wb/mask_sum"),
        helper.make_node("Sub", ["wb_mask_sum", "wb_one"], ["wb_seqlens64"], name="/wb/seqlens_sub"),
        helper.make_node("Cast", ["wb_seqlens64"], ["wb_seqlens_k"], to=TensorProto.INT32, name="/wb/seqlens"),
        helper.make_node("Shape", ["attention_mask"], ["wb_mask_shape"], name="/wb/mask_shape"),
        helper.make_node("Gather", ["wb_mask_shape", "wb_index_1"], ["wb_total64"], axis=0, name="/wb/total_g"),
        helper.make_node("Cast", ["wb_total64"], ["wb_total_len"], to=TensorProto.INT32, name="/wb/total"),
    ]
    for i, proj, o_proj, pk, pv in plan:
        scope = f"/model/layers.{i}/self_attn/"
        w = np.concatenate([numpy_helper.to_array(init[proj[p].input[1]]) for p in ("q_proj", "k_proj", "v_proj")],
                           axis=1)
        new_inits.append(numpy_helper.from_array(w, f"model.layers.{i}.self_attn.qkv_proj.weight"))
        qkv = f"{scope}qkv_proj/MatMul_output_0"
        new_nodes.append(helper.make_node("MatMul", [proj["q_proj"].input[0], new_inits[-1].name], [qkv],
                                          name=f"{scope}qkv_proj/MatMul"))
        attn = f"{scope}GroupQueryAttention_output_0"
        new_nodes.append(helper.make_node(
            "GroupQueryAttention",
            [qkv, "", "", f"past_key_values.{i}.key", f"past_key_values.{i}.value", "wb_seqlens_k", "wb_total_len",
             "wb_rope_cos", "wb_rope_sin"],
            [attn, f"present.{i}.key", f"present.{i}.value"],
            domain="com.microsoft", name=f"{scope}GroupQueryAttention",
            num_heads=heads, kv_num_heads=kv_heads, do_rotary=1, rotary_interleaved=0,
            scale=float(head_dim) ** -0.5))
        o_proj.input[0] = attn
        drop.update(id(n) for n in (pk, pv, *proj.values()))
    kept = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(new_nodes + kept)
    g.initializer.extend(new_inits)
    for vi in list(g.input) + list(g.output):  # past and present may be one buffer of any capacity
        if vi.name.startswith(("past_key_values.", "present.")):
            vi.type.tensor_type.shape.dim[2].dim_param = "kv_capacity"
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, KV_SHARED: "shared"})
    prune(g)
    topo_sort(g)
    return True


def add_logits_to_keep(model) -> bool:
    """An optional input (default 0 = every position) slicing the hidden states before the output
    layer, so prefill computes logits for the last position only."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    heads = [n for n in _scope_nodes(g, "/lm_head/") if n.op_type == "MatMul"]
    if len(heads) != 1:
        return False
    head = heads[0]
    g.input.append(helper.make_tensor_value_info("logits_to_keep", TensorProto.INT64, [1]))
    g.initializer.extend([numpy_helper.from_array(np.array([0], dtype=np.int64), "logits_to_keep"),
                          numpy_helper.from_array(np.array([np.iinfo(np.int64).max], dtype=np.int64), "wb_end"),
                          numpy_helper.from_array(np.array([1], dtype=np.int64), "wb_seq_axis")])
    sliced = "/lm_head/kept_hidden"
    g.node.extend([
        helper.make_node("Neg", ["logits_to_keep"], ["/lm_head/keep_start"], name="/lm_head/keep_neg"),
        helper.make_node("Slice", [head.input[0], "/lm_head/keep_start", "wb_end", "wb_seq_axis"], [sliced],
                         name="/lm_head/keep_slice"),
    ])
    head.input[0] = sliced
    for o in g.output:
        if o.name == "logits":
            o.type.tensor_type.shape.dim[1].dim_param = "logits_kept"
    topo_sort(g)
    return True


def topo_sort(graph) -> None:
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for n in pending:
            if all(i in known for i in n.input):
                ordered.append(n)
                known.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise WorkbenchError("The edited ONNX graph has a cycle or a missing input.",
                                 where=", ".join(n.name for n in rest[:3]),
                                 fix="report this model; export it with fuse=False meanwhile")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def untie_lm_head(model) -> bool:
    """Tied embeddings reach the output layer through a runtime Transpose, which the weight
    quantizers cannot see; store the transposed weight so the 49k x 576 matmul is quantized too."""
    import numpy as np
    from onnx import numpy_helper

    g = model.graph
    init = {t.name: t for t in g.initializer}
    heads = [n for n in _scope_nodes(g, "/lm_head/") if n.op_type == "MatMul"]
    producers = {o: n for n in g.node for o in n.output}
    if len(heads) != 1 or heads[0].input[1] in init:
        return False
    t = producers.get(heads[0].input[1])
    if t is None or t.op_type != "Transpose" or t.input[0] not in init:
        return False
    w = numpy_helper.to_array(init[t.input[0]])
    g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w.T), "lm_head.weight"))
    heads[0].input[1] = "lm_head.weight"
    prune(g)
    return True


def save_model(model, path: Path) -> None:
    """One file while it fits protobuf's 2 GB; weights beside it (model.onnx.data) beyond that."""
    import onnx

    big = sum(t.ByteSize() for t in model.graph.initializer) > 1_800_000_000
    onnx.save_model(model, str(path), save_as_external_data=big, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=1024)
