"""Scalar 32-bit integer arithmetic that stays 32-bit, so loops over it vectorise in 32-bit lanes.

Numba types ``int32 op int32`` as ``int64`` (its integer promotion), and LLVM cannot narrow an
arithmetic right shift by a run-time amount back to 32 bits, so element-wise kernels written with
plain operators run in 64-bit lanes (half the lanes per vector, and ``vpmullq``). The intrinsics
here compute in LLVM ``i32`` directly: two's-complement, modulo ``2**32``, like the hardware's
lanes. They are exact only where the caller has proved that no value leaves ``int32``; each
kernel using them states that proof (see :func:`accelsim.datapath.ops.add_lanes`).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


def _i32(context, builder, ty, v):
    return context.cast(builder, v, ty, types.int32)


def _binop(name: str, doc: str):
    def typer(typingctx, a, b):
        if not (isinstance(a, types.Integer) and isinstance(b, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            x = _i32(context, builder, sig.args[0], args[0])
            y = _i32(context, builder, sig.args[1], args[1])
            return getattr(builder, name)(x, y)

        return types.int32(a, b), codegen

    typer.__name__ = typer.__qualname__ = f"{name}32"
    typer.__doc__ = doc
    return intrinsic(typer)


add32 = _binop("add", "``a + b`` in int32 (both operands truncated to 32 bits; wraps modulo 2**32).")
mul32 = _binop("mul", "``a * b`` in int32 (both operands truncated to 32 bits; wraps modulo 2**32).")
sra32 = _binop("ashr", "``a >> s`` (arithmetic, floor) in int32; *s* must lie in ``[0, 31]``.")



# --------------------------------------------------------------------------- 32-byte chunks
#
# LLVM vectorises a loop only when it runs at least (vector width x interleave) iterations, 128
# for int8 codes: the rows of a 56x56 or 7x7 plane run scalar. These intrinsics operate on one
# 32-byte chunk (32 int8, 16 int16 or 8 int32 lanes) at element offsets, loaded and stored
# unaligned; :func:`chunk_lanes` is the chunk's element count. Callers cover a run of at least
# one chunk with chunks whose last one overlaps the one before (an idempotent operation only),
# and must own one element past a stride-2 source run (its last pair is loaded whole).

CHUNK_BYTES = 32


def _chunk(context, builder, aty, arr, idx, count):
    """Pointer to *count* elements of *arr* from element *idx*, typed as a vector pointer."""
    data = context.make_array(aty)(context, builder, arr).data
    elt = context.get_data_type(aty.dtype)
    return builder.bitcast(builder.gep(data, [idx]), ir.VectorType(elt, count).as_pointer())


def _lanes(aty) -> int:
    return CHUNK_BYTES // aty.dtype.bitwidth * 8


def _load(context, builder, aty, arr, idx, step):
    """One chunk of *arr* from *idx*: consecutive elements (step 1) or every other one (step 2)."""
    n = _lanes(aty)
    v = builder.load(_chunk(context, builder, aty, arr, idx, n * step), align=1)
    if step == 2:
        v = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), n), list(range(0, 2 * n, 2))))
    return v


def _same_int_arrays(a, b) -> bool:
    return (isinstance(a, types.Array) and isinstance(b, types.Array) and isinstance(a.dtype, types.Integer)
            and a.dtype == b.dtype and a.dtype.signed)


def _chunk_op(step: int, op: str):
    def typer(typingctx, dst, i, src, j):
        if not _same_int_arrays(dst, src):
            return None

        def codegen(context, builder, sig, args):
            dty, _, sty, _ = sig.args
            d, di, s, sj = args
            v = _load(context, builder, sty, s, sj, step)
            if op == "max":
                a = _load(context, builder, dty, d, di, 1)
                v = builder.select(builder.icmp_signed(">", a, v), a, v)
            builder.store(v, _chunk(context, builder, dty, d, di, _lanes(dty)), align=1)
            return context.get_dummy_value()

        return types.none(dst, types.intp, src, types.intp), codegen

    typer.__name__ = typer.__qualname__ = f"{op}_chunk{step}"
    typer.__doc__ = (f"``dst[i + k] = {'max(dst[i + k], ' if op == 'max' else ''}src[j + {step}*k]"
                     f"{')' if op == 'max' else ''}`` for ``k <`` :func:`chunk_lanes` (signed integers, one dtype).")
    return intrinsic(typer)


max_chunk1 = _chunk_op(1, "max")
max_chunk2 = _chunk_op(2, "max")
copy_chunk1 = _chunk_op(1, "copy")
copy_chunk2 = _chunk_op(2, "copy")


@intrinsic
def chunk_lanes(typingctx, arr):
    """Elements of *arr*'s dtype in one 32-byte chunk (a compile-time constant)."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, _lanes(sig.args[0]))

    return types.intp(arr), codegen


__all__ = ["add32", "mul32", "sra32", "CHUNK_BYTES", "chunk_lanes", "max_chunk1", "max_chunk2", "copy_chunk1",
           "copy_chunk2"]
