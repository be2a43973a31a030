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
misalignment of operands is detected (the run then returns cycles = -1).
"""

from __future__ import annotations

from math import ceil

import numpy as np
from numba import njit

from accelsim.errors import ConfigError

MAX_DIM = 16
"""Largest array the reference accepts (rows and columns)."""


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

    *stats* counts PE-to-PE hops: [activations, weights, partial sums, output chain].
    """
    nf = folds.shape[0]
    P = A.shape[3]
    # operand registers
    a_v = np.zeros((R, C, P), np.int64)
    a_ok = np.zeros((R, C), np.bool_)
    a_f = np.zeros((R, C), np.int64)
    a_k = np.zeros((R, C), np.int64)
    b_v = np.zeros((R, C, P), np.int64)
    b_ok = np.zeros((R, C), np.bool_)
    b_f = np.zeros((R, C), np.int64)
    b_k = np.zeros((R, C), np.int64)
    # skew banks (array skew): row i has i + skew_in registers, column j has j + skew_in
    sa_v = np.zeros((R, R + 1, P), np.int64)
    sa_ok = np.zeros((R, R + 1), np.bool_)
    sa_f = np.zeros((R, R + 1), np.int64)
    sa_k = np.zeros((R, R + 1), np.int64)
    sb_v = np.zeros((C, C + 1, P), np.int64)
    sb_ok = np.zeros((C, C + 1), np.bool_)
    sb_f = np.zeros((C, C + 1), np.int64)
    sb_k = np.zeros((C, C + 1), np.int64)
    # multiplier pipeline
    mp = max(m, 1)
    pr_v = np.zeros((mp, R, C), np.int64)
    pr_ok = np.zeros((mp, R, C), np.bool_)
    pr_f = np.zeros((mp, R, C), np.int64)
    pr_k = np.zeros((mp, R, C), np.int64)
    # accumulator and retiming registers
    acc = np.zeros((R, C), np.int64)
    acc_fin = np.zeros((R, C), np.bool_)
    acc_f = np.zeros((R, C), np.int64)
    ap = max(a - 1, 1)
    rt_v = np.zeros((ap, R, C), np.int64)
    rt_fin = np.zeros((ap, R, C), np.bool_)
    rt_f = np.zeros((ap, R, C), np.int64)
    # output shift chain (with drain wavefront: the per-PE shadow output registers)
    ch_v = np.zeros((R, C), np.int64)
    ch_ok = np.zeros((R, C), np.bool_)
    ch_f = np.zeros((R, C), np.int64)
    ch_j = np.zeros((R, C), np.int64)
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
        in_a_v = np.zeros((R, P), np.int64)
        in_a_ok = np.zeros(R, np.bool_)
        in_a_f = np.zeros(R, np.int64)
        in_a_k = np.zeros(R, np.int64)
        in_b_v = np.zeros((C, P), np.int64)
        in_b_ok = np.zeros(C, np.bool_)
        in_b_f = np.zeros(C, np.int64)
        in_b_k = np.zeros(C, np.int64)
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
                    in_a_ok[i] = True
                    in_a_f[i] = f
                    in_a_k[i] = k
                    for q in range(P):
                        in_a_v[i, q] = A[g, m0 + i, k0 + k, q]
            for j in range(c):
                k = t - start[f] - (0 if skew_on else j)
                if 0 <= k < tf:
                    in_b_ok[j] = True
                    in_b_f[j] = f
                    in_b_k[j] = k
                    for q in range(P):
                        in_b_v[j, q] = B[g, k0 + k, n0 + j, q]
        # ---- array skew banks: feeder -> chain of i + skew_in registers -> PE(i, 0)
        ea_v = in_a_v.copy()
        ea_ok = in_a_ok.copy()
        ea_f = in_a_f.copy()
        ea_k = in_a_k.copy()
        eb_v = in_b_v.copy()
        eb_ok = in_b_ok.copy()
        eb_f = in_b_f.copy()
        eb_k = in_b_k.copy()
        if skew_on:
            for i in range(R):
                if i + skew_in == 0:
                    continue  # row 0 without an input register: straight through
                last = i + skew_in - 1  # index of the last register of row i's chain
                ea_v[i] = sa_v[i, last]
                ea_ok[i] = sa_ok[i, last]
                ea_f[i] = sa_f[i, last]
                ea_k[i] = sa_k[i, last]
                for zz in range(last, 0, -1):
                    sa_v[i, zz] = sa_v[i, zz - 1]
                    sa_ok[i, zz] = sa_ok[i, zz - 1]
                    sa_f[i, zz] = sa_f[i, zz - 1]
                    sa_k[i, zz] = sa_k[i, zz - 1]
                sa_v[i, 0] = in_a_v[i]
                sa_ok[i, 0] = in_a_ok[i]
                sa_f[i, 0] = in_a_f[i]
                sa_k[i, 0] = in_a_k[i]
            for j in range(C):
                if j + skew_in == 0:
                    continue
                last = j + skew_in - 1
                eb_v[j] = sb_v[j, last]
                eb_ok[j] = sb_ok[j, last]
                eb_f[j] = sb_f[j, last]
                eb_k[j] = sb_k[j, last]
                for zz in range(last, 0, -1):
                    sb_v[j, zz] = sb_v[j, zz - 1]
                    sb_ok[j, zz] = sb_ok[j, zz - 1]
                    sb_f[j, zz] = sb_f[j, zz - 1]
                    sb_k[j, zz] = sb_k[j, zz - 1]
                sb_v[j, 0] = in_b_v[j]
                sb_ok[j, 0] = in_b_ok[j]
                sb_f[j, 0] = in_b_f[j]
                sb_k[j, 0] = in_b_k[j]
        # ---- operand forwarding, computed now, latched at the end of the cycle: a moves right,
        # b moves down (only inside the fold's r x c); these are the PEs' input wires this cycle
        na_v = np.zeros((R, C, P), np.int64)
        na_ok = np.zeros((R, C), np.bool_)
        na_f = np.zeros((R, C), np.int64)
        na_k = np.zeros((R, C), np.int64)
        nb_v = np.zeros((R, C, P), np.int64)
        nb_ok = np.zeros((R, C), np.bool_)
        nb_f = np.zeros((R, C), np.int64)
        nb_k = np.zeros((R, C), np.int64)
        for i in range(R):
            for j in range(C - 1, 0, -1):
                ok = a_ok[i, j - 1] and j < folds[a_f[i, j - 1], 4]
                na_ok[i, j] = ok
                if ok:
                    stats[0] += 1
                    na_v[i, j] = a_v[i, j - 1]
                    na_f[i, j] = a_f[i, j - 1]
                    na_k[i, j] = a_k[i, j - 1]
            na_ok[i, 0] = ea_ok[i]
            na_v[i, 0] = ea_v[i]
            na_f[i, 0] = ea_f[i]
            na_k[i, 0] = ea_k[i]
        for j in range(C):
            for i in range(R - 1, 0, -1):
                ok = b_ok[i - 1, j] and i < folds[b_f[i - 1, j], 3]
                nb_ok[i, j] = ok
                if ok:
                    stats[1] += 1
                    nb_v[i, j] = b_v[i - 1, j]
                    nb_f[i, j] = b_f[i - 1, j]
                    nb_k[i, j] = b_k[i - 1, j]
            nb_ok[0, j] = eb_ok[j]
            nb_v[0, j] = eb_v[j]
            nb_f[0, j] = eb_f[j]
            nb_k[0, j] = eb_k[j]
        # ---- multiply: from the operand registers (latched last cycle) or from the input wires
        if z:
            ma_v, ma_ok, ma_f, ma_k = a_v, a_ok, a_f, a_k
            mb_v, mb_ok, mb_f, mb_k = b_v, b_ok, b_f, b_k
        else:
            ma_v, ma_ok, ma_f, ma_k = na_v, na_ok, na_f, na_k
            mb_v, mb_ok, mb_f, mb_k = nb_v, nb_ok, nb_f, nb_k
        prod = np.zeros((R, C), np.int64)
        prod_ok = np.zeros((R, C), np.bool_)
        prod_f = np.zeros((R, C), np.int64)
        prod_k = np.zeros((R, C), np.int64)
        for i in range(R):
            for j in range(C):
                if ma_ok[i, j] != mb_ok[i, j]:
                    return -1
                if ma_ok[i, j]:
                    if ma_f[i, j] != mb_f[i, j] or ma_k[i, j] != mb_k[i, j]:
                        return -1
                    s_ = 0
                    for q in range(P):
                        s_ += ma_v[i, j, q] * mb_v[i, j, q]
                    prod[i, j] = s_
                    prod_ok[i, j] = True
                    prod_f[i, j] = ma_f[i, j]
                    prod_k[i, j] = ma_k[i, j]
        # adder input: the product now (m == 0) or the last multiplier stage
        if m == 0:
            ad_v = prod
            ad_ok = prod_ok
            ad_f = prod_f
            ad_k = prod_k
        else:
            ad_v = pr_v[m - 1].copy()
            ad_ok = pr_ok[m - 1].copy()
            ad_f = pr_f[m - 1].copy()
            ad_k = pr_k[m - 1].copy()
            for zz in range(m - 1, 0, -1):
                pr_v[zz] = pr_v[zz - 1]
                pr_ok[zz] = pr_ok[zz - 1]
                pr_f[zz] = pr_f[zz - 1]
                pr_k[zz] = pr_k[zz - 1]
            pr_v[0] = prod
            pr_ok[0] = prod_ok
            pr_f[0] = prod_f
            pr_k[0] = prod_k
        # result register seen during this cycle (latched last cycle)
        if a == 1:
            res_v = acc.copy()
            res_fin = acc_fin.copy()
            res_f = acc_f.copy()
        else:
            res_v = rt_v[a - 2].copy()
            res_fin = rt_fin[a - 2].copy()
            res_f = rt_f[a - 2].copy()
            for zz in range(a - 2, 0, -1):
                rt_v[zz] = rt_v[zz - 1]
                rt_fin[zz] = rt_fin[zz - 1]
                rt_f[zz] = rt_f[zz - 1]
            rt_v[0] = acc
            rt_fin[0] = acc_fin
            rt_f[0] = acc_f
        # ---- output: parallel write port per PE, or the shift chain
        if drain == 0:
            for i in range(R):
                for j in range(C):
                    if res_fin[i, j]:
                        f = res_f[i, j]
                        out[folds[f, 0], folds[f, 1] + i, folds[f, 2] + j] += res_v[i, j]
                        written[f] += 1
                        total_written += 1
                        last_write = t
        else:
            if ch_left > 0:
                # one beat: the right-edge column leaves, everything else shifts right
                for i in range(R):
                    if ch_ok[i, C - 1]:
                        f = ch_f[i, C - 1]
                        out[folds[f, 0], folds[f, 1] + i, folds[f, 2] + ch_j[i, C - 1]] += ch_v[i, C - 1]
                        written[f] += 1
                        total_written += 1
                        last_write = t
                for i in range(R):
                    for j in range(C - 1, 0, -1):
                        if ch_ok[i, j - 1]:
                            stats[3] += 1
                        ch_v[i, j] = ch_v[i, j - 1]
                        ch_ok[i, j] = ch_ok[i, j - 1]
                        ch_f[i, j] = ch_f[i, j - 1]
                        ch_j[i, j] = ch_j[i, j - 1]
                    ch_ok[i, 0] = False
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
                                ch_ok[i, j] = i < r and j < c
                                ch_v[i, j] = res_v[i, j]
                                ch_f[i, j] = f
                                ch_j[i, j] = j
                        copy_at[f] = t
                        ch_left = C
            else:
                # wavefront: each result is copied into its PE's shadow register the cycle after it
                # is final; the chain holds one fold at a time and drains once it holds all of it
                for i in range(R):
                    for j in range(C):
                        if res_fin[i, j]:
                            f = res_f[i, j]
                            if ch_left > 0 or (ch_owner >= 0 and ch_owner != f):
                                return -2 - f
                            if ch_ok[i, j]:
                                return -1
                            ch_owner = f
                            ch_ok[i, j] = True
                            ch_v[i, j] = res_v[i, j]
                            ch_f[i, j] = f
                            ch_j[i, j] = j
                            copied[f] += 1
                if ch_owner >= 0 and ch_left == 0 and copied[ch_owner] == folds[ch_owner, 3] * folds[ch_owner, 4]:
                    ch_left = C
        # ---- accumulate (latched at the end of this cycle)
        for i in range(R):
            for j in range(C):
                if ad_ok[i, j]:
                    if ad_k[i, j] == 0:
                        acc[i, j] = ad_v[i, j]
                    else:
                        if acc_f[i, j] != ad_f[i, j]:
                            return -1
                        acc[i, j] = acc[i, j] + ad_v[i, j]
                    acc_f[i, j] = ad_f[i, j]
                    acc_fin[i, j] = ad_k[i, j] == folds[ad_f[i, j], 6] - 1
                else:
                    acc_fin[i, j] = False
        # count results that become final at the end of this cycle
        if a == 1:
            for i in range(R):
                for j in range(C):
                    if acc_fin[i, j]:
                        fin_count[acc_f[i, j]] += 1
        else:
            for i in range(R):
                for j in range(C):
                    if rt_fin[a - 2, i, j]:
                        fin_count[rt_f[a - 2, i, j]] += 1
        # ---- latch the forwarded operands
        a_v[:] = na_v
        a_ok[:] = na_ok
        a_f[:] = na_f
        a_k[:] = na_k
        b_v[:] = nb_v
        b_ok[:] = nb_ok
        b_f[:] = nb_f
        b_k[:] = nb_k
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
    *stats* counts PE-to-PE hops: [streamed operands, stationary preload, partial sums, unused].
    """
    nf = folds.shape[0]
    P = S.shape[3]
    w = np.zeros((2, R, C, P), np.int64)  # two banks of stationary registers
    w_ok = np.zeros((2, R, C), np.bool_)  # which hold a value of the fold being preloaded
    x_v = np.zeros((R, C, P), np.int64)
    x_ok = np.zeros((R, C), np.bool_)
    x_f = np.zeros((R, C), np.int64)
    x_u = np.zeros((R, C), np.int64)
    sl = R * a + 1
    sk_v = np.zeros((R, sl, P), np.int64)
    sk_ok = np.zeros((R, sl), np.bool_)
    sk_f = np.zeros((R, sl), np.int64)
    sk_u = np.zeros((R, sl), np.int64)
    mp = max(m, 1)
    pr_v = np.zeros((mp, R, C), np.int64)
    pr_ok = np.zeros((mp, R, C), np.bool_)
    pr_f = np.zeros((mp, R, C), np.int64)
    pr_u = np.zeros((mp, R, C), np.int64)
    ps_v = np.zeros((a, R, C), np.int64)
    ps_ok = np.zeros((a, R, C), np.bool_)
    ps_f = np.zeros((a, R, C), np.int64)
    ps_u = np.zeros((a, R, C), np.int64)
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
        in_v = np.zeros((R, P), np.int64)
        in_ok = np.zeros(R, np.bool_)
        in_f = np.zeros(R, np.int64)
        in_u = np.zeros(R, np.int64)
        for f in range(max(0, nxt_s - window), nxt_s):
            g = folds[f, 0]
            k0 = folds[f, 1]
            r = folds[f, 3]
            for i in range(r):
                u = t - start[f] - (0 if skew_on else i * a)
                if 0 <= u < folds[f, 6]:
                    in_ok[i] = True
                    in_f[i] = f
                    in_u[i] = u
                    for q in range(P):
                        if is_is:
                            in_v[i, q] = X[g, k0 + i, folds[f, 5] + u, q]
                        else:
                            in_v[i, q] = X[g, folds[f, 5] + u, k0 + i, q]
        ex_v = in_v.copy()
        ex_ok = in_ok.copy()
        ex_f = in_f.copy()
        ex_u = in_u.copy()
        if skew_on:
            for i in range(R):
                if i * a + skew_in == 0:
                    continue  # row 0 without an input register: straight through
                last = i * a + skew_in - 1  # row i's skew chain has i*a + skew_in registers
                ex_v[i] = sk_v[i, last]
                ex_ok[i] = sk_ok[i, last]
                ex_f[i] = sk_f[i, last]
                ex_u[i] = sk_u[i, last]
                for zz in range(last, 0, -1):
                    sk_v[i, zz] = sk_v[i, zz - 1]
                    sk_ok[i, zz] = sk_ok[i, zz - 1]
                    sk_f[i, zz] = sk_f[i, zz - 1]
                    sk_u[i, zz] = sk_u[i, zz - 1]
                sk_v[i, 0] = in_v[i]
                sk_ok[i, 0] = in_ok[i]
                sk_f[i, 0] = in_f[i]
                sk_u[i, 0] = in_u[i]
        # ---- streamed operands move right inside the fold's columns (latched at the end of the
        # cycle; these are the PEs' input wires this cycle)
        nx_v = np.zeros((R, C, P), np.int64)
        nx_ok = np.zeros((R, C), np.bool_)
        nx_f = np.zeros((R, C), np.int64)
        nx_u = np.zeros((R, C), np.int64)
        for i in range(R):
            for j in range(C - 1, 0, -1):
                ok = x_ok[i, j - 1] and j < folds[x_f[i, j - 1], 4]
                nx_ok[i, j] = ok
                if ok:
                    stats[0] += 1
                    nx_v[i, j] = x_v[i, j - 1]
                    nx_f[i, j] = x_f[i, j - 1]
                    nx_u[i, j] = x_u[i, j - 1]
            nx_ok[i, 0] = ex_ok[i]
            nx_v[i, 0] = ex_v[i]
            nx_f[i, 0] = ex_f[i]
            nx_u[i, 0] = ex_u[i]
        if z:
            mx_v, mx_ok, mx_f, mx_u = x_v, x_ok, x_f, x_u
        else:
            mx_v, mx_ok, mx_f, mx_u = nx_v, nx_ok, nx_f, nx_u
        # ---- multiply with the bank the operand's fold uses
        prod = np.zeros((R, C), np.int64)
        prod_ok = np.zeros((R, C), np.bool_)
        prod_f = np.zeros((R, C), np.int64)
        prod_u = np.zeros((R, C), np.int64)
        for i in range(R):
            for j in range(C):
                if mx_ok[i, j]:
                    f = mx_f[i, j]
                    bank = f % banks
                    s_ = 0
                    for q in range(P):
                        s_ += mx_v[i, j, q] * w[bank, i, j, q]
                    prod[i, j] = s_
                    prod_ok[i, j] = True
                    prod_f[i, j] = f
                    prod_u[i, j] = mx_u[i, j]
                    mult_left[f] -= 1
        if m == 0:
            ad_v = prod
            ad_ok = prod_ok
            ad_f = prod_f
            ad_u = prod_u
        else:
            ad_v = pr_v[m - 1].copy()
            ad_ok = pr_ok[m - 1].copy()
            ad_f = pr_f[m - 1].copy()
            ad_u = pr_u[m - 1].copy()
            for zz in range(m - 1, 0, -1):
                pr_v[zz] = pr_v[zz - 1]
                pr_ok[zz] = pr_ok[zz - 1]
                pr_f[zz] = pr_f[zz - 1]
                pr_u[zz] = pr_u[zz - 1]
            pr_v[0] = prod
            pr_ok[0] = prod_ok
            pr_f[0] = prod_f
            pr_u[0] = prod_u
        # ---- bottom edge: the last psum stage of row R-1 is written to the output buffer
        for j in range(C):
            if psum_after and ps_ok[a - 1, R - 1, j]:
                f = ps_f[a - 1, R - 1, j]
                u = ps_u[a - 1, R - 1, j]
                g = folds[f, 0]
                if is_is:
                    out[g, folds[f, 2] + j, folds[f, 5] + u] += ps_v[a - 1, R - 1, j]
                else:
                    out[g, folds[f, 5] + u, folds[f, 2] + j] += ps_v[a - 1, R - 1, j]
                written[f] += 1
                total_written += 1
                last_write = t
        # ---- partial-sum pipeline: stage 0 = psum from above + product, then a-1 stages
        nps_v = np.zeros((R, C), np.int64)
        nps_ok = np.zeros((R, C), np.bool_)
        nps_f = np.zeros((R, C), np.int64)
        nps_u = np.zeros((R, C), np.int64)
        for i in range(R):
            for j in range(C):
                above_ok = False
                if i > 0:
                    above_ok = ps_ok[a - 1, i - 1, j]
                if above_ok:
                    stats[2] += 1
                if ad_ok[i, j]:
                    if above_ok:
                        if ps_f[a - 1, i - 1, j] != ad_f[i, j] or ps_u[a - 1, i - 1, j] != ad_u[i, j]:
                            return -1
                        nps_v[i, j] = ps_v[a - 1, i - 1, j] + ad_v[i, j]
                    else:
                        if i > 0:
                            return -1  # a product with no partial sum to add to
                        nps_v[i, j] = ad_v[i, j]
                    nps_ok[i, j] = True
                    nps_f[i, j] = ad_f[i, j]
                    nps_u[i, j] = ad_u[i, j]
                elif above_ok:
                    nps_v[i, j] = ps_v[a - 1, i - 1, j]
                    nps_ok[i, j] = True
                    nps_f[i, j] = ps_f[a - 1, i - 1, j]
                    nps_u[i, j] = ps_u[a - 1, i - 1, j]
        if not psum_after:
            # registers before the adder: the bottom row's sum goes straight to the output buffer
            for j in range(C):
                if nps_ok[R - 1, j]:
                    f = nps_f[R - 1, j]
                    u = nps_u[R - 1, j]
                    g = folds[f, 0]
                    if is_is:
                        out[g, folds[f, 2] + j, folds[f, 5] + u] += nps_v[R - 1, j]
                    else:
                        out[g, folds[f, 5] + u, folds[f, 2] + j] += nps_v[R - 1, j]
                    written[f] += 1
                    total_written += 1
                    last_write = t
                    nps_ok[R - 1, j] = False
        for zz in range(a - 1, 0, -1):
            ps_v[zz] = ps_v[zz - 1]
            ps_ok[zz] = ps_ok[zz - 1]
            ps_f[zz] = ps_f[zz - 1]
            ps_u[zz] = ps_u[zz - 1]
        ps_v[0] = nps_v
        ps_ok[0] = nps_ok
        ps_f[0] = nps_f
        ps_u[0] = nps_u
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
                    w_ok[bank, :, :] = False
                for i in range(R - 1, 0, -1):
                    for j in range(C):
                        if w_ok[bank, i - 1, j]:
                            stats[1] += 1
                        w_ok[bank, i, j] = w_ok[bank, i - 1, j]
                        for zz in range(P):
                            w[bank, i, j, zz] = w[bank, i - 1, j, zz]
                kk = r - 1 - q
                for j in range(C):
                    w_ok[bank, 0, j] = j < c
                    for zz in range(P):
                        if j < c:
                            if is_is:
                                w[bank, 0, j, zz] = S[g, c0 + j, k0 + kk, zz]
                            else:
                                w[bank, 0, j, zz] = S[g, k0 + kk, c0 + j, zz]
                        else:
                            w[bank, 0, j, zz] = 0
        # ---- latch the forwarded streamed operands
        x_v[:] = nx_v
        x_ok[:] = nx_ok
        x_f[:] = nx_f
        x_u[:] = nx_u
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
