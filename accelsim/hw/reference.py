"""Register-level reference model of the array (small arrays, Numba).

Every PE register of an R x C array (R, C <= 16) is updated every cycle, all registers latching
together at the end of the cycle from the values they held during it. Operands really move from
register to register (systolic forwarding); partial sums really travel down the columns; results
really leave through the output chain or the per-PE write port. Nothing here uses the closed
forms of :mod:`accelsim.hw.timing`: the cycle count is the cycle of the last write into the output
buffer plus one, and the tests hold :func:`accelsim.hw.timing.layer_compute_cycles` equal to it.

The sequencer (which cycle a fold's preload and stream begin) follows state it can observe:
"the previous fold's results are all written" (no overlap), "the previous stream has fully
entered", "the bank this fold preloads has no multiply left" (ws/is overlap: the bank of two
folds back with shadow stationary registers, the previous fold's with a single register), "the
previous fold's results were copied into the output chain" (os shift overlap). The rules using a
known latency are the os shift-overlap one: a fold may not start so early that its copy would
land before the output chain has emptied (``start + T + r + c + e + m + a + z - 3 >= previous
copy + C``) and the ws/is rule that a stream may begin ``max(0, r-e-z)`` cycles after its preload
began. If a rule were too eager, results would collide and the GEMM would come out wrong, which
the tests also check.

With drain ``wavefront`` every PE's shadow output register is modelled: each result is copied
into it the cycle after it is final; the chain of shadow registers holds one fold at a time and
drains C beats once it holds the whole fold. The sequencer streams each fold right behind the
previous one; a copy that finds the chain still owned by an older fold is a collision, and
:func:`reference_gemm` replays the run with one more idle cycle before the colliding fold until
none collides. So the back-pressure the closed form predicts is found by trying, not assumed.

Other conventions modelled register by register: the skew bank with or without its input
register, the multiplier reading the operand register or its input wires, the partial-sum hop
registers after or before the adder (ws/is), padded edge folds (the zero operands really move),
os reductions split into chunks whose partial sums add into the output, and ws/is streams split
into chunks (each a fold sequence of its own).

Registers carry tags (fold index, stream index) so outputs land in the right place and so any
misalignment of operands is detected (the run then returns cycles = -1). A register is one record,
the last axis of its array: ``[valid, fold, step, value(s)]`` (:data:`VALID`, :data:`FOLD`,
:data:`STEP`, :data:`VALUE`; an operand register holds ``macs_per_pe`` values, a sum register
one). A plane of registers, a skew chain or a pipeline is then one array, and moving a register's
content, tags and all, is one assignment.
"""

from __future__ import annotations

from math import ceil

import os

import numpy as np
from numba import njit

from accelsim.errors import ConfigError
from accelsim.jitcache import install

install(os.path.dirname(__file__))  # cached kernels stamped with this package's Numba modules

MAX_DIM = 16
"""Largest array the reference accepts (rows and columns)."""

VALID, FOLD, STEP, VALUE = 0, 1, 2, 3
"""Fields of a register record (the last axis of every register array): valid (for a result: final),
the fold and the stream step (for the output chain: the column) of what it holds, then its value(s)."""

SUM = VALUE + 1
"""Record length of a register holding one sum (product, accumulator, partial sum, output chain)."""


def _fold_table(sr: int, sc: int, R: int, C: int, groups: int, row_major: bool,
                t: int = 1, k_chunks: int = 1) -> np.ndarray:
    """Folds in run order: rows of (group, row offset, col offset, rows used, cols used, first
    step, steps).

    ``row_major``: row fold outer, column fold inner (os); else column fold outer (ws, is). The
    *t* steps are split into *k_chunks* chunks between the outer and the inner fold loop (os: the
    reduction, ws/is: the streamed output pixels or channels).
    """
    out = []
    nfr, nfc = ceil(sr / R), ceil(sc / C)
    step = ceil(t / k_chunks)
    nk = ceil(t / step)
    for g in range(groups):
        for o in range(nfr if row_major else nfc):
            for kk in range(nk):
                for q in range(nfc if row_major else nfr):
                    i, j = (o, q) if row_major else (q, o)
                    out.append((g, i * R, j * C, min(R, sr - i * R), min(C, sc - j * C), kk * step,
                                min(step, t - kk * step)))
    return np.array(out, dtype=np.int64).reshape(-1, 7)


@njit(cache=True)
def _skew(bank, feed, edge, per_row, skew_in):
    """Advance a skew bank one cycle: row i is a chain of ``i * per_row + skew_in`` registers from
    the feeder to the array; *edge[i]* gets what leaves row i's chain (a row without registers
    passes *feed[i]* straight through), *feed[i]* enters it."""
    for i in range(feed.shape[0]):
        n = i * per_row + skew_in
        if n == 0:
            continue
        edge[i] = bank[i, n - 1]
        for zz in range(n - 1, 0, -1):
            bank[i, zz] = bank[i, zz - 1]
        bank[i, 0] = feed[i]


@njit(cache=True)
def _shift_in(pipe, n, new):
    """Advance the *n*-stage pipeline *pipe* one cycle: return (a copy of) what its last stage
    held, shift every stage one on, latch *new* into stage 0."""
    leaving = pipe[n - 1].copy()
    for zz in range(n - 1, 0, -1):
        pipe[zz] = pipe[zz - 1]
    pipe[0] = new
    return leaving


@njit(cache=True)
def _write_row(row, folds, is_is, out, written, total_written, last_write, t):
    """Write the valid sums of *row* (one per column, at the bottom of a ws/is array) into the
    output buffer at cycle *t* (a sum's step counts from its fold's first step); return the updated
    ``(total_written, last_write)``."""
    for j in range(row.shape[0]):
        if row[j, VALID]:
            f = row[j, FOLD]
            u = row[j, STEP]
            g = folds[f, 0]
            if is_is:
                out[g, folds[f, 2] + j, folds[f, 5] + u] += row[j, VALUE]
            else:
                out[g, folds[f, 5] + u, folds[f, 2] + j] += row[j, VALUE]
            written[f] += 1
            total_written += 1
            last_write = t
    return total_written, last_write


@njit(cache=True)
def _run_os(A, B, folds, R, C, m, a, skew_on, skew_in, z, drain, overlap, hold, out, stats):
    """Output stationary. A [G, M, K, P], B [G, K, N, P] (K packed); fold f streams the T_f =
    ``folds[f, 6]`` steps from ``folds[f, 5]`` (the whole K, or a chunk of it with partial-sum
    spills: its results are then added into the output, as the output buffer does).

    *drain*: 0 parallel, 1 shift, 2 wavefront. *skew_on*: the array's skew bank staggers the rows
    (row i passes ``i + skew_in`` registers), else the feeder staggers them. *z*: 1 = the
    multiplier reads the operand registers, 0 = their input wires. *hold[f]*: idle cycles the
    sequencer inserts before fold f may start (found by :func:`reference_gemm` from collisions).
    Returns the cycles, -1 on a misalignment, or ``-2 - f`` when a result of fold f found its
    output register still holding or draining an older fold (a collision).

    Registers are records (module docstring): operands ``[valid, fold, step, p values]``; products
    and the accumulator ``[valid | final, fold, step, sum]``; the output chain ``[valid, fold,
    column, result]``. *stats* counts PE-to-PE hops: [activations, weights, partial sums, output chain].
    """
    nf = folds.shape[0]
    P = A.shape[3]
    W = VALUE + P  # an operand record
    # operand registers
    a_reg = np.zeros((R, C, W), np.int64)
    b_reg = np.zeros((R, C, W), np.int64)
    # skew banks (array skew): row i has i + skew_in registers, column j has j + skew_in
    sa = np.zeros((R, R + 1, W), np.int64)
    sb = np.zeros((C, C + 1, W), np.int64)
    # multiplier pipeline
    pr = np.zeros((max(m, 1), R, C, SUM), np.int64)
    # accumulator (VALID: its sum is final) and retiming registers
    acc = np.zeros((R, C, SUM), np.int64)
    rt = np.zeros((max(a - 1, 1), R, C, SUM), np.int64)
    # output shift chain (with drain wavefront: the per-PE shadow output registers); STEP holds the column
    ch = np.zeros((R, C, SUM), np.int64)
    ch_left = 0
    ch_owner = -1  # wavefront: the fold whose results the chain holds, -1 when empty
    # sequencer state
    start = np.full(nf, -1, np.int64)
    fin_count = np.zeros(nf, np.int64)
    copied = np.zeros(nf, np.int64)
    written = np.zeros(nf, np.int64)
    copy_at = np.full(nf, -1, np.int64)
    need_total = 0
    for f in range(nf):
        need_total += folds[f, 3] * folds[f, 4]
    total_written = 0
    window = max(R, C) + 4
    nxt = 0
    last_write = -1
    bound = 0
    for f in range(nf):
        bound += folds[f, 6] + 3 * (R + C) + m + a + 8 + hold[f]
    t = 0
    while total_written < need_total:
        if t > bound:
            return -1
        # ---- sequencer: may the next fold start its stream now?
        if nxt < nf:
            ok = False
            if nxt == 0:
                ok = True
            else:
                pf = nxt - 1
                if not overlap:
                    ok = written[pf] == folds[pf, 3] * folds[pf, 4]
                elif drain != 1:
                    ok = t >= start[pf] + folds[pf, 6] + hold[nxt]
                else:
                    rn = folds[nxt, 3]
                    cn = folds[nxt, 4]
                    e = 1 if skew_on and skew_in == 1 else 0
                    ok = copy_at[pf] >= 0 and t >= copy_at[pf] + 1 and \
                        t + folds[nxt, 6] + rn + cn + e + m + a + z - 3 >= copy_at[pf] + C
            if ok:
                start[nxt] = t
                nxt += 1
        # ---- edge inputs for this cycle (what the feeder drives)
        in_a = np.zeros((R, W), np.int64)
        in_b = np.zeros((C, W), np.int64)
        # folds start >= T cycles apart and feed for T + skew cycles: at most `window` feed at once
        for f in range(max(0, nxt - window), nxt):
            g = folds[f, 0]
            m0 = folds[f, 1]
            n0 = folds[f, 2]
            r = folds[f, 3]
            c = folds[f, 4]
            k0 = folds[f, 5]
            tf = folds[f, 6]
            for i in range(r):
                k = t - start[f] - (0 if skew_on else i)
                if 0 <= k < tf:
                    in_a[i, VALID] = 1
                    in_a[i, FOLD] = f
                    in_a[i, STEP] = k
                    for q in range(P):
                        in_a[i, VALUE + q] = A[g, m0 + i, k0 + k, q]
            for j in range(c):
                k = t - start[f] - (0 if skew_on else j)
                if 0 <= k < tf:
                    in_b[j, VALID] = 1
                    in_b[j, FOLD] = f
                    in_b[j, STEP] = k
                    for q in range(P):
                        in_b[j, VALUE + q] = B[g, k0 + k, n0 + j, q]
        # ---- array skew banks: feeder -> chain of i + skew_in registers -> PE(i, 0)
        ea = in_a.copy()
        eb = in_b.copy()
        if skew_on:
            _skew(sa, in_a, ea, 1, skew_in)
            _skew(sb, in_b, eb, 1, skew_in)
        # ---- operand forwarding, computed now, latched at the end of the cycle: a moves right,
        # b moves down (only inside the fold's r x c); these are the PEs' input wires this cycle
        na = np.zeros((R, C, W), np.int64)
        nb = np.zeros((R, C, W), np.int64)
        for i in range(R):
            for j in range(C - 1, 0, -1):
                if a_reg[i, j - 1, VALID] and j < folds[a_reg[i, j - 1, FOLD], 4]:
                    stats[0] += 1
                    na[i, j] = a_reg[i, j - 1]
            na[i, 0] = ea[i]
        for j in range(C):
            for i in range(R - 1, 0, -1):
                if b_reg[i - 1, j, VALID] and i < folds[b_reg[i - 1, j, FOLD], 3]:
                    stats[1] += 1
                    nb[i, j] = b_reg[i - 1, j]
            nb[0, j] = eb[j]
        # ---- multiply: from the operand registers (latched last cycle) or from the input wires
        ma = a_reg if z else na
        mb = b_reg if z else nb
        prod = np.zeros((R, C, SUM), np.int64)
        for i in range(R):
            for j in range(C):
                if ma[i, j, VALID] != mb[i, j, VALID]:
                    return -1
                if ma[i, j, VALID]:
                    if ma[i, j, FOLD] != mb[i, j, FOLD] or ma[i, j, STEP] != mb[i, j, STEP]:
                        return -1
                    s_ = 0
                    for q in range(P):
                        s_ += ma[i, j, VALUE + q] * mb[i, j, VALUE + q]
                    prod[i, j, VALUE] = s_
                    prod[i, j, VALID] = 1
                    prod[i, j, FOLD] = ma[i, j, FOLD]
                    prod[i, j, STEP] = ma[i, j, STEP]
        # adder input: the product now (m == 0) or the last multiplier stage
        ad = prod if m == 0 else _shift_in(pr, m, prod)
        # result register seen during this cycle (latched last cycle)
        res = acc.copy() if a == 1 else _shift_in(rt, a - 1, acc)
        # ---- output: parallel write port per PE, or the shift chain
        if drain == 0:
            for i in range(R):
                for j in range(C):
                    if res[i, j, VALID]:
                        f = res[i, j, FOLD]
                        out[folds[f, 0], folds[f, 1] + i, folds[f, 2] + j] += res[i, j, VALUE]
                        written[f] += 1
                        total_written += 1
                        last_write = t
        else:
            if ch_left > 0:
                # one beat: the right-edge column leaves, everything else shifts right
                for i in range(R):
                    if ch[i, C - 1, VALID]:
                        f = ch[i, C - 1, FOLD]
                        out[folds[f, 0], folds[f, 1] + i, folds[f, 2] + ch[i, C - 1, STEP]] += ch[i, C - 1, VALUE]
                        written[f] += 1
                        total_written += 1
                        last_write = t
                for i in range(R):
                    for j in range(C - 1, 0, -1):
                        if ch[i, j - 1, VALID]:
                            stats[3] += 1
                        ch[i, j] = ch[i, j - 1]
                    ch[i, 0, VALID] = 0
                ch_left -= 1
                if ch_left == 0:
                    ch_owner = -1
            if drain == 1:
                for f in range(max(0, nxt - window), nxt):
                    if copy_at[f] < 0 and fin_count[f] == folds[f, 3] * folds[f, 4]:
                        if ch_left > 0:
                            return -1  # the chain still holds results: a collision
                        r = folds[f, 3]
                        c = folds[f, 4]
                        for i in range(R):
                            for j in range(C):
                                ch[i, j, VALID] = i < r and j < c
                                ch[i, j, VALUE] = res[i, j, VALUE]
                                ch[i, j, FOLD] = f
                                ch[i, j, STEP] = j
                        copy_at[f] = t
                        ch_left = C
            else:
                # wavefront: each result is copied into its PE's shadow register the cycle after it
                # is final; the chain holds one fold at a time and drains once it holds all of it
                for i in range(R):
                    for j in range(C):
                        if res[i, j, VALID]:
                            f = res[i, j, FOLD]
                            if ch_left > 0 or (ch_owner >= 0 and ch_owner != f):
                                return -2 - f
                            if ch[i, j, VALID]:
                                return -1
                            ch_owner = f
                            ch[i, j, VALID] = 1
                            ch[i, j, VALUE] = res[i, j, VALUE]
                            ch[i, j, FOLD] = f
                            ch[i, j, STEP] = j
                            copied[f] += 1
                if ch_owner >= 0 and ch_left == 0 and copied[ch_owner] == folds[ch_owner, 3] * folds[ch_owner, 4]:
                    ch_left = C
        # ---- accumulate (latched at the end of this cycle)
        for i in range(R):
            for j in range(C):
                if ad[i, j, VALID]:
                    f = ad[i, j, FOLD]
                    if ad[i, j, STEP] == 0:
                        acc[i, j, VALUE] = ad[i, j, VALUE]
                    else:
                        if acc[i, j, FOLD] != f:
                            return -1
                        acc[i, j, VALUE] = acc[i, j, VALUE] + ad[i, j, VALUE]
                    acc[i, j, FOLD] = f
                    acc[i, j, VALID] = ad[i, j, STEP] == folds[f, 6] - 1
                else:
                    acc[i, j, VALID] = 0
        # count results that become final at the end of this cycle
        fin = acc if a == 1 else rt[a - 2]
        for i in range(R):
            for j in range(C):
                if fin[i, j, VALID]:
                    fin_count[fin[i, j, FOLD]] += 1
        # ---- latch the forwarded operands
        a_reg[:] = na
        b_reg[:] = nb
        t += 1
    return last_write + 1


@njit(cache=True)
def _run_stationary(S, X, folds, is_is, R, C, m, a, skew_on, skew_in, z, overlap, psum_after, banks, out, stats):
    """Weight or input stationary (the same engine).

    ws: S = B [G, T_k, N, P] stationary source, X = A [G, M, T_k, P] streamed; out [G, M, N].
    is: S = A [G, M, T_k, P] stationary source, X = B [G, T_k, N, P] streamed; out [G, M, N].
    Fold rows (r) run over the packed reduction, fold columns (c) over N (ws) or M (is).
    *psum_after*: the a partial-sum registers of a row hop sit after the adder (the bottom row's
    sum is registered before it is written) or before it (the bottom row's adder writes the output
    buffer directly). *banks*: stationary register banks per PE (2: a shadow register the next
    fold preloads while this one streams; 1: the preload waits until no multiply needs the bank).

    Registers are records (module docstring): streamed operands ``[valid, fold, step, p values]``,
    stationary registers ``[valid, -, -, p values]``, products and partial sums ``[valid, fold,
    step, sum]``. *stats* counts PE-to-PE hops: [streamed operands, stationary preload, partial
    sums, unused].
    """
    nf = folds.shape[0]
    P = S.shape[3]
    W = VALUE + P  # an operand record
    w = np.zeros((2, R, C, W), np.int64)  # two banks of stationary registers (VALID: holds a value of its fold)
    x = np.zeros((R, C, W), np.int64)  # streamed operand registers
    sk = np.zeros((R, R * a + 1, W), np.int64)  # skew bank: row i has i*a + skew_in registers
    pr = np.zeros((max(m, 1), R, C, SUM), np.int64)  # multiplier pipeline
    ps = np.zeros((a, R, C, SUM), np.int64)  # partial-sum registers of each row hop
    pre_at = np.full(nf, -1, np.int64)
    start = np.full(nf, -1, np.int64)
    mult_left = np.zeros(nf, np.int64)
    written = np.zeros(nf, np.int64)
    need_total = 0
    bound = 0
    for f in range(nf):
        mult_left[f] = folds[f, 3] * folds[f, 4] * folds[f, 6]
        need_total += folds[f, 6] * folds[f, 4]
        bound += folds[f, 6] + R * (a + 2) + C + m + 8
    total_written = 0
    window = R * a + 4
    nxt_p = 0
    nxt_s = 0
    last_write = -1
    t = 0
    while total_written < need_total:
        if t > bound:
            return -1
        # ---- sequencer: preload start, then stream start
        if nxt_p < nf:
            ok = False
            if nxt_p == 0:
                ok = True
            else:
                pf = nxt_p - 1
                if not overlap:
                    ok = written[pf] == folds[pf, 6] * folds[pf, 4]
                else:
                    ok = t >= pre_at[pf] + folds[pf, 3]
                    if nxt_p >= banks and mult_left[nxt_p - banks] > 0:
                        ok = False  # the bank this fold preloads is still read
            if ok:
                pre_at[nxt_p] = t
                nxt_p += 1
        if nxt_s < nxt_p:
            r = folds[nxt_s, 3]
            e = 1 if skew_on and skew_in == 1 else 0
            ok = t >= pre_at[nxt_s] + max(0, r - e - z)
            if nxt_s > 0 and t < start[nxt_s - 1] + folds[nxt_s - 1, 6]:
                ok = False
            if ok:
                start[nxt_s] = t
                nxt_s += 1
        # ---- feeder: stream step u of row i
        feed = np.zeros((R, W), np.int64)
        for f in range(max(0, nxt_s - window), nxt_s):
            g = folds[f, 0]
            k0 = folds[f, 1]
            r = folds[f, 3]
            for i in range(r):
                u = t - start[f] - (0 if skew_on else i * a)
                if 0 <= u < folds[f, 6]:
                    feed[i, VALID] = 1
                    feed[i, FOLD] = f
                    feed[i, STEP] = u
                    for q in range(P):
                        if is_is:
                            feed[i, VALUE + q] = X[g, k0 + i, folds[f, 5] + u, q]
                        else:
                            feed[i, VALUE + q] = X[g, folds[f, 5] + u, k0 + i, q]
        edge = feed.copy()
        if skew_on:
            _skew(sk, feed, edge, a, skew_in)
        # ---- streamed operands move right inside the fold's columns (latched at the end of the
        # cycle; these are the PEs' input wires this cycle)
        nx = np.zeros((R, C, W), np.int64)
        for i in range(R):
            for j in range(C - 1, 0, -1):
                if x[i, j - 1, VALID] and j < folds[x[i, j - 1, FOLD], 4]:
                    stats[0] += 1
                    nx[i, j] = x[i, j - 1]
            nx[i, 0] = edge[i]
        mx = x if z else nx
        # ---- multiply with the bank the operand's fold uses
        prod = np.zeros((R, C, SUM), np.int64)
        for i in range(R):
            for j in range(C):
                if mx[i, j, VALID]:
                    f = mx[i, j, FOLD]
                    bank = f % banks
                    s_ = 0
                    for q in range(P):
                        s_ += mx[i, j, VALUE + q] * w[bank, i, j, VALUE + q]
                    prod[i, j, VALUE] = s_
                    prod[i, j, VALID] = 1
                    prod[i, j, FOLD] = f
                    prod[i, j, STEP] = mx[i, j, STEP]
                    mult_left[f] -= 1
        ad = prod if m == 0 else _shift_in(pr, m, prod)
        # ---- bottom edge: the last psum stage of row R-1 is written to the output buffer
        if psum_after:
            total_written, last_write = _write_row(ps[a - 1, R - 1], folds, is_is, out, written, total_written,
                                                   last_write, t)
        # ---- partial-sum pipeline: stage 0 = psum from above + product, then a-1 stages
        nps = np.zeros((R, C, SUM), np.int64)
        for i in range(R):
            for j in range(C):
                above_ok = False
                if i > 0:
                    above_ok = ps[a - 1, i - 1, j, VALID] != 0
                if above_ok:
                    stats[2] += 1
                if ad[i, j, VALID]:
                    if above_ok:
                        if ps[a - 1, i - 1, j, FOLD] != ad[i, j, FOLD] or ps[a - 1, i - 1, j, STEP] != ad[i, j, STEP]:
                            return -1
                        nps[i, j, VALUE] = ps[a - 1, i - 1, j, VALUE] + ad[i, j, VALUE]
                    else:
                        if i > 0:
                            return -1  # a product with no partial sum to add to
                        nps[i, j, VALUE] = ad[i, j, VALUE]
                    nps[i, j, VALID] = 1
                    nps[i, j, FOLD] = ad[i, j, FOLD]
                    nps[i, j, STEP] = ad[i, j, STEP]
                elif above_ok:
                    nps[i, j] = ps[a - 1, i - 1, j]
        if not psum_after:
            # registers before the adder: the bottom row's sum goes straight to the output buffer
            total_written, last_write = _write_row(nps[R - 1], folds, is_is, out, written, total_written,
                                                   last_write, t)
            nps[R - 1, :, VALID] = 0
        _shift_in(ps, a, nps)
        # ---- preload: the stationary tile of the fold being preloaded shifts down one row
        for f in range(max(0, nxt_p - 3), nxt_p):
            q = t - pre_at[f]
            r = folds[f, 3]
            if 0 <= q < r:
                bank = f % banks
                g = folds[f, 0]
                k0 = folds[f, 1]
                c0 = folds[f, 2]
                c = folds[f, 4]
                if q == 0:
                    w[bank, :, :, VALID] = 0
                for i in range(R - 1, 0, -1):
                    for j in range(C):
                        if w[bank, i - 1, j, VALID]:
                            stats[1] += 1
                        w[bank, i, j] = w[bank, i - 1, j]
                kk = r - 1 - q
                for j in range(C):
                    w[bank, 0, j, VALID] = j < c
                    for zz in range(P):
                        if j < c:
                            if is_is:
                                w[bank, 0, j, VALUE + zz] = S[g, c0 + j, k0 + kk, zz]
                            else:
                                w[bank, 0, j, VALUE + zz] = S[g, k0 + kk, c0 + j, zz]
                        else:
                            w[bank, 0, j, VALUE + zz] = 0
        # ---- latch the forwarded streamed operands
        x[:] = nx
        t += 1
    return last_write + 1


def reference_gemm(
    a: np.ndarray,
    b: np.ndarray,
    dataflow: str,
    rows: int,
    cols: int,
    mult_stages: int = 0,
    acc_stages: int = 1,
    skew: str = "feeder",
    drain: str = "shift",
    overlap_folds: bool = False,
    macs_per_pe: int = 1,
    hops: np.ndarray | None = None,
    *,
    skew_input_register: bool = True,
    mult_input: str = "register",
    edge_folds: str = "trimmed",
    psum_register: str = "after_adder",
    stationary_registers: str = "shadow",
    k_chunks: int = 1,
) -> tuple[np.ndarray, int]:
    """Run ``groups`` GEMMs ``a[g] @ b[g]`` through the register-level array.

    Parameters
    ----------
    a : int array [M, K] or [G, M, K] (activations).
    b : int array [K, N] or [G, K, N] (weights).
    dataflow : "os", "ws" or "is".
    rows, cols : array shape, 1..16.
    mult_stages, acc_stages, skew, drain, overlap_folds, skew_input_register, mult_input, edge_folds,
    psum_register, stationary_registers :
        as in ``hardware.pe`` / ``hardware.array``. ``edge_folds="padded"`` pads the operands with
        zeros to whole folds (the zeros really move through the registers) and crops the result.
    macs_per_pe : 1, 2 or 4: each PE multiplies that many consecutive-k pairs per cycle.
    k_chunks : split the streamed dimension into this many chunks, each a fold sequence of its own:
        os the (packed) reduction, whose chunks' results are added into the output (partial-sum
        spills); ws the output pixels (M), is the output channels (N).
    hops : optional int64 array of 4, incremented with the PE-to-PE hops of values: os
        [activations, weights, partial sums (0), output chain]; ws/is [streamed operand,
        stationary preload, partial sums, 0]. Each hop moves one operand register (p elements)
        or one partial sum.

    Returns
    -------
    (out, cycles)
        ``out`` int64 [M, N] (or [G, M, N]); ``cycles`` from the first cycle to the last write
        into the output buffer, inclusive.

    Raises
    ------
    ConfigError
        Array larger than 16 x 16, unknown dataflow or option.
    RuntimeError
        The registers misaligned or results collided (a bug in the sequencer rules).

    Notes
    -----
    Drain ``wavefront`` with overlap: the sequencer streams each fold right behind the previous
    one. When a result finds its shadow output register still owned by an older fold (held or
    draining), the run is a collision; the array must instead idle before that fold, so the run is
    replayed from cycle 0 with one more idle cycle before the colliding fold, until no result
    collides: the earliest collision-free schedule, found by trying, not by a latency formula.
    """
    if not (1 <= rows <= MAX_DIM and 1 <= cols <= MAX_DIM):
        raise ConfigError(f"reference model: array {rows}x{cols} outside 1..{MAX_DIM} per side")
    if dataflow not in ("os", "ws", "is"):
        raise ConfigError(f"reference model: unknown dataflow {dataflow!r}; valid: os, ws, is")
    if (skew not in ("feeder", "array") or drain not in ("shift", "parallel", "wavefront")
            or macs_per_pe not in (1, 2, 4) or mult_input not in ("register", "wires")
            or edge_folds not in ("trimmed", "padded") or psum_register not in ("after_adder", "before_adder")
            or stationary_registers not in ("shadow", "single")):
        raise ConfigError(f"reference model: bad option skew={skew!r} drain={drain!r} macs_per_pe={macs_per_pe} "
                          f"mult_input={mult_input!r} edge_folds={edge_folds!r} psum_register={psum_register!r} "
                          f"stationary_registers={stationary_registers!r}")
    squeeze = np.ndim(a) == 2
    a3 = np.asarray(a, dtype=np.int64).reshape((1,) + np.shape(a)) if squeeze else np.asarray(a, np.int64)
    b3 = np.asarray(b, dtype=np.int64).reshape((1,) + np.shape(b)) if squeeze else np.asarray(b, np.int64)
    g, m_, k = a3.shape
    n = b3.shape[2]
    p = macs_per_pe
    kt = ceil(k / p)
    # padded edge folds: zero operands up to whole folds (os: M by rows, N by cols; ws: packed K
    # by rows, N by cols; is: packed K by rows, M by cols)
    mp_, np_, kp = m_, n, kt
    if edge_folds == "padded":
        if dataflow == "os":
            mp_, np_ = ceil(m_ / rows) * rows, ceil(n / cols) * cols
        elif dataflow == "ws":
            kp, np_ = ceil(kt / rows) * rows, ceil(n / cols) * cols
        else:
            kp, mp_ = ceil(kt / rows) * rows, ceil(m_ / cols) * cols
    ap = np.zeros((g, mp_, kp * p), np.int64)
    ap[:, :m_, :k] = a3
    bp = np.zeros((g, kp * p, np_), np.int64)
    bp[:, :k, :n] = b3
    A = np.ascontiguousarray(ap.reshape(g, mp_, kp, p))
    B = np.ascontiguousarray(bp.reshape(g, kp, p, np_).transpose(0, 1, 3, 2))
    skew_on = skew == "array"
    skew_in = 1 if skew_input_register else 0
    z = 1 if mult_input == "register" else 0
    if dataflow == "os":
        folds = _fold_table(mp_, np_, rows, cols, g, True, kp, k_chunks)
        hold = np.zeros(len(folds), np.int64)
        drain_code = {"parallel": 0, "shift": 1, "wavefront": 2}[drain]
        while True:
            out = np.zeros((g, mp_, np_), np.int64)
            stats = np.zeros(4, np.int64)
            cycles = _run_os(A, B, folds, rows, cols, mult_stages, acc_stages, skew_on, skew_in, z,
                             drain_code, overlap_folds, hold, out, stats)
            if cycles > -2:
                break
            f = -2 - cycles
            hold[f] += 1
            if hold[f] > kt + 4 * (rows + cols) + mult_stages + acc_stages:
                raise RuntimeError(f"reference model: fold {f} still collides after {hold[f]} idle cycles")
    else:
        out = np.zeros((g, mp_, np_), np.int64)
        stats = np.zeros(4, np.int64)
        after = psum_register == "after_adder"
        banks = 2 if stationary_registers == "shadow" else 1
        if dataflow == "ws":
            folds = _fold_table(kp, np_, rows, cols, g, False, mp_, k_chunks)
            cycles = _run_stationary(B, A, folds, False, rows, cols, mult_stages, acc_stages, skew_on, skew_in, z,
                                     overlap_folds, after, banks, out, stats)
        else:
            folds = _fold_table(kp, mp_, rows, cols, g, False, np_, k_chunks)
            cycles = _run_stationary(A, B, folds, True, rows, cols, mult_stages, acc_stages, skew_on, skew_in, z,
                                     overlap_folds, after, banks, out, stats)
    if hops is not None:
        hops += stats
    if cycles < 0:
        raise RuntimeError("reference model: operands misaligned or results collided")
    out = out[:, :m_, :n]
    return (out[0] if squeeze else out), int(cycles)
