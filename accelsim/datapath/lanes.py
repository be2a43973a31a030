"""Scalar 32-bit integer arithmetic that stays 32-bit, so loops over it vectorise in 32-bit lanes.

Numba types ``int32 op int32`` as ``int64`` (its integer promotion), and LLVM cannot narrow an
arithmetic right shift by a run-time amount back to 32 bits, so element-wise kernels written with
plain operators run in 64-bit lanes (half the lanes per vector, and ``vpmullq``). The intrinsics
here compute in LLVM ``i32`` directly: two's-complement, modulo ``2**32``, like the hardware's
lanes. They are exact only where the caller has proved that no value leaves ``int32``; each
kernel using them states that proof (see :func:`accelsim.datapath.ops.add_lanes`).
"""

from __future__ import annotations

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

__all__ = ["add32", "mul32", "sra32"]
