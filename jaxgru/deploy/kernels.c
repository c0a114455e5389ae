/* jaxgru's integer kernels, one per operator kind, as the generated model file includes them.
 *
 * The arithmetic is jaxgru's NumPy reference (jaxgru.model.reference), written for a 32-bit core:
 * codes are JX_CODE (int8_t, or int16_t on the wide datapath), matmul accumulators JX_ACC (int32_t,
 * or int64_t), a matmul's requantization product int64_t, formed from 32-bit operands where the
 * datapath allows it (one SMULL on a Cortex-M3/M4), elementwise values JX_ELEM (int32_t, or int64_t). Rounding is half up:
 * floor((acc * m + 2^(s-1)) / 2^s) with 1 <= s <= 46; results saturate to the operator's range.
 *
 * Weights of a linear operator are stored output-major, W[i][j] for output unit i and input j,
 * either one code per byte (int8_t), as int16_t (widths above 8), or packed: every code's b-bit
 * two's complement field one after the other, least significant bit first, the whole matrix one
 * bit stream (code k = i * n_in + j occupies bits k*b .. k*b + b-1, bit 0 being bit 0 of byte 0).
 * A dense operator's matrix one byte a code or packed at 4 or 2 bits is grouped (JX_GROUPED,
 * below), in the same number of bytes; a delta operator's is input-major (W[j][i]). */

/* Right shifts of negative values are implementation-defined in C; jaxgru needs the arithmetic
 * shift (floor division) that every compiler for these targets gives. Refuse any other. */
typedef char jx_needs_arithmetic_right_shift[(((int32_t)-1) >> 1) == -1 ? 1 : -1];
typedef char jx_needs_arithmetic_right_shift64[(((int64_t)-1) >> 1) == -1 ? 1 : -1];

enum { JX_BYTES = 0, JX_HALFWORDS = 1, JX_PACKED = 2, JX_GROUPED = 3 };

typedef struct {
    const void *data; /* int8_t[], int16_t[], packed or grouped uint8_t[] */
    int32_t storage;  /* JX_BYTES, JX_HALFWORDS, JX_PACKED or JX_GROUPED */
    int32_t bits;     /* the codes' width; grouped: the fields' (8, 4 or 2) */
} jx_weights;

static int64_t jx_round_shift(int64_t value, int32_t shift)
{
    return (value + ((int64_t)1 << (shift - 1))) >> shift;
}

static JX_CODE jx_saturate(int32_t zero, int64_t value, int32_t qmin, int32_t qmax)
{
    int64_t q = (int64_t)zero + value;
    return (JX_CODE)(q < qmin ? qmin : (q > qmax ? qmax : q));
}

static void jx_fill(JX_CODE *v, int32_t n, int32_t value)
{
    int32_t i;
    for (i = 0; i < n; ++i)
        v[i] = (JX_CODE)value;
}

#if defined(__GNUC__)
#define JX_INLINE static inline __attribute__((always_inline)) /* specialized where called */
#else
#define JX_INLINE static
#endif

/* A linear operator's output code: sat(zero + round(acc * mult / 2^shift)). */
JX_INLINE JX_CODE jx_requantize_one(JX_ACC acc, int32_t mult, int32_t shift, int32_t zero, int32_t qmin, int32_t qmax)
{
    return jx_saturate(zero, jx_round_shift((int64_t)acc * mult, shift), qmin, qmax);
}

/* Reads a packed stream of b-bit codes (b < 8) one code after the other, from code k on. */
typedef struct {
    const uint8_t *next; /* the next byte to load */
    uint32_t buffer;     /* bits loaded and not yet read, least significant first */
    int32_t have;        /* how many */
    int32_t bits;
} jx_reader;

JX_INLINE void jx_reader_at(jx_reader *r, const void *data, uint32_t k, int32_t bits)
{
    uint32_t bit = k * (uint32_t)bits;
    r->next = (const uint8_t *)data + (bit >> 3);
    r->buffer = (uint32_t)*r->next++ >> (bit & 7u);
    r->have = 8 - (int32_t)(bit & 7u);
    r->bits = bits;
}

JX_INLINE int32_t jx_read(jx_reader *r)
{
    uint32_t field, sign = (uint32_t)1 << (r->bits - 1);
    if (r->have < r->bits) { /* one more byte always suffices: b < 8 */
        r->buffer |= (uint32_t)*r->next++ << r->have;
        r->have += 8;
    }
    field = r->buffer & (((uint32_t)1 << r->bits) - 1u);
    r->buffer >>= r->bits;
    r->have -= r->bits;
    return (int32_t)(field ^ sign) - (int32_t)sign; /* sign extension without shifting a negative */
}

/* Code i (0..7) of a group of eight b-bit codes (b = 2..8, b whole bytes), the group's bytes 0..3
 * in lo and the rest in hi. With i and b constants: a shift, a mask and the sign (one SBFX). */
JX_INLINE int32_t jx_group_code(uint32_t lo, uint32_t hi, int32_t i, int32_t bits)
{
    const int32_t pos = i * bits;
    const uint32_t mask = ((uint32_t)1 << bits) - 1u, sign = (uint32_t)1 << (bits - 1);
    uint32_t field;
    if (pos + bits <= 32)
        field = lo >> pos;
    else if (pos >= 32)
        field = hi >> (pos - 32);
    else /* straddles the two words */
        field = (lo >> pos) | (hi << (32 - pos));
    field &= mask;
    return (int32_t)(field ^ sign) - (int32_t)sign;
}

/* For j = 0 .. n-1 in order, STEP(j, c) with c code k + j of a packed stream of b-bit codes
 * (b = 2..7, a constant where this is expanded): the codes before the first one that starts a
 * byte through the reader; then eight codes (b whole bytes) at a time, and at 2 and 4 bits the
 * whole bytes left one at a time, written out so that every shift is a constant; then the rest
 * through the reader. */
#define JX_GROUP_STEP(STEP, j, i, lo, hi, bits) STEP((j) + (i), jx_group_code(lo, hi, i, bits))
#define JX_PACKED_FOR(data, k, n, bits, STEP)                                                           \
    do {                                                                                                 \
        const uint32_t period_ = ((bits) & 1) ? 8u : ((bits) == 4 ? 2u : 4u); /* codes per byte run */   \
        const uint8_t *p_;                                                                               \
        int32_t j_ = (int32_t)((period_ - ((k) & (period_ - 1u))) & (period_ - 1u)), i_;                 \
        jx_reader r_;                                                                                    \
        if (j_ > (n))                                                                                    \
            j_ = (n);                                                                                    \
        if (j_ > 0) {                                                                                    \
            jx_reader_at(&r_, (data), (k), (bits));                                                      \
            for (i_ = 0; i_ < j_; ++i_)                                                                  \
                STEP(i_, jx_read(&r_));                                                                  \
        }                                                                                                \
        p_ = (const uint8_t *)(data) + ((((k) + (uint32_t)j_) * (uint32_t)(bits)) >> 3);                 \
        for (; j_ + 8 <= (n); j_ += 8, p_ += (bits)) {                                                   \
            const uint32_t lo_ = (uint32_t)p_[0] | (uint32_t)p_[1] << 8 |                                \
                                 ((bits) > 2 ? (uint32_t)p_[2] << 16 : 0u) |                             \
                                 ((bits) > 3 ? (uint32_t)p_[3] << 24 : 0u);                              \
            const uint32_t hi_ = ((bits) > 4 ? (uint32_t)p_[4] : 0u) |                                   \
                                 ((bits) > 5 ? (uint32_t)p_[5] << 8 : 0u) |                              \
                                 ((bits) > 6 ? (uint32_t)p_[6] << 16 : 0u);                              \
            JX_GROUP_STEP(STEP, j_, 0, lo_, hi_, bits);                                                  \
            JX_GROUP_STEP(STEP, j_, 1, lo_, hi_, bits);                                                  \
            JX_GROUP_STEP(STEP, j_, 2, lo_, hi_, bits);                                                  \
            JX_GROUP_STEP(STEP, j_, 3, lo_, hi_, bits);                                                  \
            JX_GROUP_STEP(STEP, j_, 4, lo_, hi_, bits);                                                  \
            JX_GROUP_STEP(STEP, j_, 5, lo_, hi_, bits);                                                  \
            JX_GROUP_STEP(STEP, j_, 6, lo_, hi_, bits);                                                  \
            JX_GROUP_STEP(STEP, j_, 7, lo_, hi_, bits);                                                  \
        }                                                                                                \
        if (8 % (bits) == 0) /* 2 and 4 bits: the whole bytes left */                                    \
            for (; j_ + 8 / (bits) <= (n); j_ += 8 / (bits), ++p_) {                                     \
                JX_GROUP_STEP(STEP, j_, 0, (uint32_t)*p_, 0u, bits);                                     \
                JX_GROUP_STEP(STEP, j_, 1, (uint32_t)*p_, 0u, bits);                                     \
                if ((bits) == 2) {                                                                       \
                    JX_GROUP_STEP(STEP, j_, 2, (uint32_t)*p_, 0u, bits);                                 \
                    JX_GROUP_STEP(STEP, j_, 3, (uint32_t)*p_, 0u, bits);                                 \
                }                                                                                        \
            }                                                                                            \
        if (j_ < (n)) { /* the reader loads its first byte at once: never past the last code */          \
            jx_reader_at(&r_, (data), (k) + (uint32_t)j_, (bits));                                       \
            for (; j_ < (n); ++j_)                                                                       \
                STEP(j_, jx_read(&r_));                                                                  \
        }                                                                                                \
    } while (0)

/* CALL(b) with the packed width b = bits (2..7) as a constant, which the compiler specializes. */
#define JX_BY_PACKED_WIDTH(bits, CALL)                                                                  \
    switch (bits) {                                                                                      \
    case 2: CALL(2); break;                                                                              \
    case 3: CALL(3); break;                                                                              \
    case 4: CALL(4); break;                                                                              \
    case 5: CALL(5); break;                                                                              \
    case 6: CALL(6); break;                                                                              \
    default: CALL(7); break;                                                                             \
    }

/* sum_j q[j] * (code k + j of a packed stream of b-bit codes); inlined with a constant width. */
#define JX_DOT_STEP(j, c) (acc += (JX_ACC)q[j] * (c))
JX_INLINE JX_ACC jx_dot_packed(const void *data, uint32_t k, int32_t n, const JX_CODE *q, int32_t bits)
{
    JX_ACC acc = 0;
    JX_PACKED_FOR(data, k, n, bits, JX_DOT_STEP);
    return acc;
}

/* sum_j q[j] * W[k + j] over n codes: the inner loop of every dense linear operator (a row). */
static JX_ACC jx_dot(const jx_weights *w, uint32_t k, int32_t n, const JX_CODE *q)
{
    JX_ACC acc = 0;
    int32_t j;
    if (w->storage == JX_BYTES) {
        const int8_t *r = (const int8_t *)w->data + k;
        for (j = 0; j < n; ++j)
            acc += (JX_ACC)q[j] * r[j];
    } else if (w->storage == JX_HALFWORDS) {
        const int16_t *r = (const int16_t *)w->data + k;
        for (j = 0; j < n; ++j)
            acc += (JX_ACC)q[j] * r[j];
    } else {
#define JX_DOT_AT(b) acc = jx_dot_packed(w->data, k, n, q, b)
        JX_BY_PACKED_WIDTH(w->bits, JX_DOT_AT)
    }
    return acc;
}

#if (defined(JX_USE_DENSE) || defined(JX_USE_DELTA)) && defined(JX_NARROW) && defined(__ARM_FEATURE_SIMD32) && \
    !defined(JAXGRU_PORTABLE)
/* The Arm DSP extension (Cortex-M4, M7, M33...): SMLAD multiplies two pairs of 16-bit halves and
 * adds both products to an accumulator. Define JAXGRU_PORTABLE to compile the portable loops
 * instead; both give the same bits (each path's sums are the same integers: see each). */
#include <arm_acle.h>
#define JX_SIMD32

static int32_t jx_load4(const void *p) /* four bytes, any alignment, as one little-endian word */
{
    const uint8_t *u = (const uint8_t *)p;
    return (int32_t)((uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24);
}

#if defined(JX_USE_DELTA)
static int32_t jx_sxtb16_odd(int32_t v) /* bytes 1 and 3, sign-extended into the two halves */
{
#if defined(__GNUC__)
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v)); /* the rotation is free inside SXTB16 */
    return r;
#else
    return __sxtb16((int32_t)(((uint32_t)v >> 8) | ((uint32_t)v << 24)));
#endif
}
#endif
#endif

#if defined(JX_USE_DENSE)
/* Grouped weights (JX_GROUPED, fields of b = 8, 4 or 2 bits; jaxgru.deploy.packing.group_rows):
 * rows in groups of G = 16/b, a group's 2 * n_in bytes one little-endian halfword per input j
 * holding its G rows' codes, row r in bits r*b .. r*b+b-1, offset by 2^(b-1) (unsigned) below the
 * top row, the top row in two's complement; then the rows after the last whole group as a packed
 * stream of b-bit codes (int8 at 8 bits). Code r of halfword hw (top: the group's last row): */
JX_INLINE int32_t jx_field(uint32_t hw, int32_t r, int32_t bits, int32_t top)
{
    const uint32_t mask = ((uint32_t)1 << bits) - 1u, half = (mask >> 1) + 1u, field = (hw >> (r * bits)) & mask;
    return top ? (int32_t)(field ^ half) - (int32_t)half : (int32_t)field - (int32_t)half;
}

/* acc[r] += (row r of the group at p) . q for its G = 16/b rows; inlined with a constant width,
 * the rows' sums in registers. */
#define JX_GF(a, r) (a += (JX_ACC)x * jx_field(hw, r, bits, (r) == per - 1))
JX_INLINE void jx_group_dot(JX_ACC *acc, const uint8_t *p, int32_t n_in, const JX_CODE *q, int32_t bits)
{
    const int32_t per = 16 / bits;
    JX_ACC a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    int32_t j;
    for (j = 0; j < n_in; ++j, p += 2) {
        const uint32_t hw = (uint32_t)p[0] | (uint32_t)p[1] << 8;
        const JX_ACC x = q[j];
        JX_GF(a0, 0), JX_GF(a1, 1);
        if (per > 2)
            JX_GF(a2, 2), JX_GF(a3, 3);
        if (per > 4)
            JX_GF(a4, 4), JX_GF(a5, 5), JX_GF(a6, 6), JX_GF(a7, 7);
    }
    acc[0] += a0, acc[1] += a1;
    if (per > 2)
        acc[2] += a2, acc[3] += a3;
    if (per > 4)
        acc[4] += a4, acc[5] += a5, acc[6] += a6, acc[7] += a7;
}
#endif

#if defined(JX_SIMD32) && defined(JX_USE_DENSE)
/* Grouped weights through SMLAD. A word of a group is two halfwords (inputs j, j+1), each read as
 * a signed 16-bit number sum_r c_r 2^(r*b) + const; SMLAD with the pair (q[j], q[j+1]) adds
 * sum_r 2^(r*b) (c_r q[j] + c'_r q[j+1]) + const * (q[j] + q[j+1]) to a sum. Keeping sums of the
 * word with its fields above k masked off (k = 1 .. G-1, AND or BIC with an immediate) and of the
 * whole word, s_k - s_(k-1) is 2^((k-1)*b) times row k-1's dot product with offset fields: one
 * load, G-1 masks and G SMLADs per 2G MACs. Each difference is below 2^31 for partial sums of at
 * most JX_DSP_CHUNK inputs (top row 2^(16-b) * 256 * 2^(b-1) * 2^7 = 2^30), so it is exact in
 * wrapping 32-bit arithmetic; the offsets come off once, 2^(b-1) times the sum of the inputs. */
#define JX_DSP
#define JX_DSP_CHUNK 256

/* pairs[j/2] = (q[j], q[j+1]) as two 16-bit halves, (q[n-1], 0) last when n is odd; returns
 * the sum of the codes. */
static int32_t jx_pairs(int32_t *pairs, const int8_t *q, int32_t n)
{
    int32_t j, sum = 0;
    for (j = 0; j + 1 < n; j += 2) {
        *pairs++ = (int32_t)((uint32_t)(uint16_t)q[j] | (uint32_t)(uint16_t)q[j + 1] << 16);
        sum += q[j] + q[j + 1];
    }
    if (n & 1) {
        *pairs = (int32_t)(uint32_t)(uint16_t)q[n - 1];
        sum += q[n - 1];
    }
    return sum;
}

JX_INLINE int32_t jx_signed(uint32_t v) /* v as two's complement, without an out-of-range cast */
{
    return v <= 0x7FFFFFFFu ? (int32_t)v : -(int32_t)(~v) - 1;
}

/* Four sums s[k] = sum over `words` words of SMLAD(word & m_k, pair), the last word a lone
 * halfword when `half`. Variants: 0, two groups of 8-bit rows (sums 2 and 3 of the group at
 * p + stride), masks 0x00FF00FF and none for each; 1, 4 bits, masks of 1, 2, 3 fields and none;
 * 2 and 3, 2 bits, masks of 1..4 fields and of 5, 6, 7 and none. Every mask is an AND or a BIC
 * with an immediate. Two words a step, written in assembly with GCC (which otherwise keeps copies
 * of the pointers live): per 16 MACs one LDRD of pairs, 2 or 4 loads, 3 to 4 masks per word, 8 SMLADs
 * and 2 for the loop (19 instructions for variants 0 and 1). */
#define JX_SUMS4(w, v, x)                                                                                   \
    (s0 = __smlad((int32_t)((uint32_t)(w) & m0), (x), s0), s1 = __smlad((int32_t)((uint32_t)(w) & m1), (x), s1), \
     s2 = __smlad((int32_t)((uint32_t)(v) & m2), (x), s2), s3 = __smlad((int32_t)((uint32_t)(v) & m3), (x), s3))
#if defined(__GNUC__)
#define JX_AM(ins, imm, s, x) ins " %[t], %[w], #" imm "\n\tsmlad %[" s "], %[t], %[" x "], %[" s "]\n\t"
#define JX_AW(s, x) "smlad %[" s "], %[w], %[" x "], %[" s "]\n\t"
#define JX_AL "ldr %[w], [%[p]], #4\n\t"
#define JX_AL1 "ldr %[w], [%[p], %[stride]]\n\t"
#define JX_A0(x) JX_AL1 JX_AM("and", "0x00FF00FF", "s2", x) JX_AW("s3", x) JX_AL JX_AM("and", "0x00FF00FF", "s0", x) \
    JX_AW("s1", x)
#define JX_A1(x) JX_AL JX_AM("and", "0x000F000F", "s0", x) JX_AM("and", "0x00FF00FF", "s1", x) \
    JX_AM("bic", "0xF000F000", "s2", x) JX_AW("s3", x)
#define JX_A2(x) JX_AL JX_AM("and", "0x00030003", "s0", x) JX_AM("and", "0x000F000F", "s1", x) \
    JX_AM("and", "0x003F003F", "s2", x) JX_AM("and", "0x00FF00FF", "s3", x)
#define JX_A3(x) JX_AL JX_AM("bic", "0xFC00FC00", "s0", x) JX_AM("bic", "0xF000F000", "s1", x) \
    JX_AM("bic", "0xC000C000", "s2", x) JX_AW("s3", x)
#define JX_ASM_SUMS(A)                                                                                     \
    __asm__ volatile("1:\n\tldrd %[x0], %[x1], [%[pairs]], #8\n\t" A("x0") A("x1") "cmp %[pairs], %[end]\n\tbne 1b" \
                     : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [p] "+r"(p), [pairs] "+r"(pairs), \
                       [w] "=&r"(w), [t] "=&r"(t), [x0] "=&r"(x0), [x1] "=&r"(x1)                               \
                     : [stride] "r"(stride), [end] "r"(end)                                                     \
                     : "cc", "memory")
#endif
JX_INLINE void jx_sums4(int32_t *s, const uint8_t *p, uint32_t stride, const int32_t *pairs, int32_t words,
                        int32_t half, int32_t variant)
{
    const uint32_t masks[4][4] = {{0x00FF00FFu, ~0u, 0x00FF00FFu, ~0u},
                                  {0x000F000Fu, 0x00FF00FFu, 0x0FFF0FFFu, ~0u},
                                  {0x00030003u, 0x000F000Fu, 0x003F003Fu, 0x00FF00FFu},
                                  {0x03FF03FFu, 0x0FFF0FFFu, 0x3FFF3FFFu, ~0u}}; /* as the assembly's */
    const uint32_t m0 = masks[variant][0], m1 = masks[variant][1], m2 = masks[variant][2], m3 = masks[variant][3];
    const int32_t *end = pairs + (words - half) / 2 * 2;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, w, v;
#if defined(__GNUC__)
    int32_t t, x0, x1;
    if (pairs != end) {
        if (variant == 0)
            JX_ASM_SUMS(JX_A0);
        else if (variant == 1)
            JX_ASM_SUMS(JX_A1);
        else if (variant == 2)
            JX_ASM_SUMS(JX_A2);
        else
            JX_ASM_SUMS(JX_A3);
    }
#else
    for (; pairs != end; pairs += 2, p += 8) {
        w = jx_load4(p);
        v = variant == 0 ? jx_load4(p + stride) : w;
        JX_SUMS4(w, v, pairs[0]);
        w = jx_load4(p + 4);
        v = variant == 0 ? jx_load4(p + stride + 4) : w;
        JX_SUMS4(w, v, pairs[1]);
    }
#endif
    if ((words - half) & 1) {
        w = jx_load4(p);
        v = variant == 0 ? jx_load4(p + stride) : w;
        JX_SUMS4(w, v, pairs[0]);
        p += 4, ++pairs;
    }
    if (half) { /* the high half zero */
        w = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8);
        v = variant == 0 ? (int32_t)((uint32_t)p[stride] | (uint32_t)p[stride + 1] << 8) : w;
        JX_SUMS4(w, v, *pairs);
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

#define JX_ROWS(bits) ((bits) == 2 ? 8 : 4) /* a block's rows: two groups at 8 bits, one below */
#define JX_DIFF(a, b) jx_signed((uint32_t)(a) - (uint32_t)(b))

/* sat(zero + round(acc * mult / 2^shift)) for shift >= 33 in 32-bit words: with P = acc * mult =
 * hi * 2^32 + lo, floor((P + 2^(shift-1)) / 2^shift) = (hi + 2^(shift-33)) >> (shift-32) exactly,
 * and one SMULL gives hi (|hi| < 2^30). A smaller shift is raised to 33 beforehand by doubling
 * the multiplier (mult * 2^k over 2^(shift+k) rounds the same), where it stays below 2^31;
 * where it would not, the operator takes the portable path. */
JX_INLINE JX_CODE jx_requantize_high(int32_t acc, int32_t mult, int32_t shift, int32_t zero, int32_t qmin,
                                     int32_t qmax)
{
    int32_t q = zero + (((int32_t)((int64_t)acc * mult >> 32) + ((int32_t)1 << (shift - 33))) >> (shift - 32));
    return (JX_CODE)(q < qmin ? qmin : (q > qmax ? qmax : q));
}

/* out[r] = requantize(b[r] + row r . q) for the JX_ROWS(b) rows of the block at p (at 8 bits its
 * second group at p + stride), the inputs q as pairs (n_in of them; offset: 2^(b-1) times their
 * sum), shift >= 33 (jx_requantize_high); inlined with a constant width. */
JX_INLINE void jx_block(JX_CODE *out, const JX_ACC *b, const uint8_t *p, uint32_t stride, const int32_t *pairs,
                        int32_t n_in, int32_t offset, int32_t bits, int32_t mult, int32_t shift, int32_t zero,
                        int32_t qmin, int32_t qmax)
{
    const int32_t words = (n_in + 1) / 2, chunk = JX_DSP_CHUNK / 2;
    int32_t g, k, s[8], acc[8];
    if (bits != 2) { /* four rows, written out so that they stay in registers */
        int32_t a0 = b[0] - offset, a1 = b[1] - (bits == 8 ? 0 : offset), a2 = b[2] - offset, a3 = b[3];
        for (g = 0; g < words; g += chunk) { /* exact differences: see above */
            const int32_t n = words - g < chunk ? words - g : chunk;
            jx_sums4(s, p + 4u * (uint32_t)g, stride, pairs + g, n, g + n > n_in / 2, bits == 8 ? 0 : 1);
            a0 += s[0];
            a1 += JX_DIFF(s[1], s[0]) >> bits;
            a2 += bits == 8 ? s[2] : JX_DIFF(s[2], s[1]) >> 8;
            a3 += JX_DIFF(s[3], s[2]) >> (bits == 8 ? 8 : 12);
        }
        out[0] = jx_requantize_high(a0, mult, shift, zero, qmin, qmax);
        out[1] = jx_requantize_high(a1, mult, shift, zero, qmin, qmax);
        out[2] = jx_requantize_high(a2, mult, shift, zero, qmin, qmax);
        out[3] = jx_requantize_high(a3, mult, shift, zero, qmin, qmax);
        return;
    }
    for (k = 0; k < 8; ++k) /* 2 bits: eight sums in two passes, four registers of sums a pass */
        acc[k] = b[k] - (k < 7 ? offset : 0);
    for (g = 0; g < words; g += chunk) {
        const int32_t n = words - g < chunk ? words - g : chunk, half = g + n > n_in / 2;
        jx_sums4(s, p + 4u * (uint32_t)g, stride, pairs + g, n, half, 2);
        jx_sums4(s + 4, p + 4u * (uint32_t)g, stride, pairs + g, n, half, 3);
        acc[0] += s[0];
        for (k = 1; k < 8; ++k)
            acc[k] += JX_DIFF(s[k], s[k - 1]) >> (2 * k);
    }
    for (k = 0; k < 8; ++k)
        out[k] = jx_requantize_high(acc[k], mult, shift, zero, qmin, qmax);
}

/* The whole blocks of a grouped linear operator (below) through SMLAD; returns the rows done. */
JX_INLINE int32_t jx_linear_dsp(JX_CODE *out, const JX_CODE *q, int32_t n_in, int32_t n_out, const uint8_t *p,
                                int32_t bits, const JX_ACC *b, int32_t mult, int32_t shift, int32_t zero,
                                int32_t qmin, int32_t qmax)
{
    const int32_t rows = JX_ROWS(bits);
    const uint32_t stride = 2u * (uint32_t)n_in, block = bits == 8 ? 2u * stride : stride;
    int32_t pairs[JX_MAX_IN / 2 + 1];
    int32_t i, offset;
    for (; shift < 33 && mult < (1 << 30) && mult >= -(1 << 30); ++shift) /* see jx_requantize_high */
        mult *= 2;
    if (shift < 33)
        return 0;
    offset = jx_pairs(pairs, q, n_in) * (1 << (bits - 1));
    for (i = 0; i + rows <= n_out; i += rows, p += block)
        jx_block(out + i, b + i, p, stride, pairs, n_in, offset, bits, mult, shift, zero, qmin, qmax);
    return i;
}
#endif

#if defined(JX_USE_DENSE)
/* A grouped linear operator (below), its width b a constant where this is inlined. */
JX_INLINE void jx_linear_grouped(JX_CODE *out, const JX_CODE *s, int32_t n_in, int32_t n_out, const jx_weights *w,
                                 int32_t bits, const JX_ACC *b, int32_t mult, int32_t shift, int32_t zero,
                                 int32_t qmin, int32_t qmax)
{
    const int32_t per = 16 / bits, whole = n_out / per * per;
    const uint8_t *p = (const uint8_t *)w->data;
    const jx_weights rest = {p + (uint32_t)(n_out / per) * (uint32_t)n_in * 2u, bits == 8 ? JX_BYTES : JX_PACKED, bits};
    JX_ACC acc[8];
    int32_t i = 0, r;
#if defined(JX_DSP)
    i = jx_linear_dsp(out, s, n_in, n_out, p, bits, b, mult, shift, zero, qmin, qmax);
    p += (uint32_t)i * (uint32_t)n_in * 2u / (uint32_t)per;
#endif
    for (; i < whole; i += per, p += 2u * (uint32_t)n_in) {
        for (r = 0; r < per; ++r)
            acc[r] = b[i + r];
        jx_group_dot(acc, p, n_in, s, bits);
        for (r = 0; r < per; ++r)
            out[i + r] = jx_requantize_one(acc[r], mult, shift, zero, qmin, qmax);
    }
    for (; i < n_out; ++i) { /* the rows after the last whole group */
        JX_ACC acc1 = b[i] + jx_dot(&rest, (uint32_t)(i - whole) * (uint32_t)n_in, n_in, s);
        out[i] = jx_requantize_one(acc1, mult, shift, zero, qmin, qmax);
    }
}

/* linear: out = requantize(W s + b), W output-major (row i is codes i*n_in .. i*n_in+n_in-1), or
 * grouped (above). */
static void jx_linear(JX_CODE *out, const JX_CODE *s, int32_t n_in, int32_t n_out, const jx_weights *w,
                      const JX_ACC *b, int32_t mult, int32_t shift, int32_t zero, int32_t qmin, int32_t qmax)
{
    int32_t i;
    if (w->storage == JX_GROUPED) {
        if (w->bits == 8)
            jx_linear_grouped(out, s, n_in, n_out, w, 8, b, mult, shift, zero, qmin, qmax);
        else if (w->bits == 4)
            jx_linear_grouped(out, s, n_in, n_out, w, 4, b, mult, shift, zero, qmin, qmax);
        else
            jx_linear_grouped(out, s, n_in, n_out, w, 2, b, mult, shift, zero, qmin, qmax);
        return;
    }
    for (i = 0; i < n_out; ++i) {
        JX_ACC acc = b[i] + jx_dot(w, (uint32_t)i * (uint32_t)n_in, n_in, s);
        out[i] = jx_requantize_one(acc, mult, shift, zero, qmin, qmax);
    }
}
#endif

#if defined(JX_USE_DELTA)
#define JX_AXPY_STEP(i, c) (out[i] += factor * (c))
JX_INLINE void jx_axpy_packed(JX_ACC *out, int32_t n, JX_ACC factor, const void *data, uint32_t k, int32_t bits)
{
    JX_PACKED_FOR(data, k, n, bits, JX_AXPY_STEP);
}

/* out[i] += factor * W[k + i] over n codes: a delta step's column update (a column of an
 * input-major matrix is contiguous). */
static void jx_axpy(JX_ACC *out, int32_t n, JX_ACC factor, const jx_weights *w, uint32_t k)
{
    int32_t i;
    if (w->storage == JX_BYTES) {
        const int8_t *c = (const int8_t *)w->data + k;
        for (i = 0; i < n; ++i)
            out[i] += factor * c[i];
    } else if (w->storage == JX_HALFWORDS) {
        const int16_t *c = (const int16_t *)w->data + k;
        for (i = 0; i < n; ++i)
            out[i] += factor * c[i];
    } else {
#define JX_AXPY_AT(b) jx_axpy_packed(out, n, factor, w->data, k, b)
        JX_BY_PACKED_WIDTH(w->bits, JX_AXPY_AT)
    }
}

#if defined(JX_SIMD32)
/* out[i] += f1 * c1[i] + f2 * c2[i]: two columns of bytes at once. SXTB16 puts codes 0 and 2 (and,
 * rotated, 1 and 3) of four of a column's bytes into two halves; each output's pair of codes, one
 * from each column, is packed into one word (PKHBT/PKHTB) and one SMLAD adds both products. The
 * memory never wraps (tests/test_delta.py), so adding two updates at once gives the same bits. */
static void jx_axpy2_bytes(int32_t *out, int32_t n, int32_t f1, int32_t f2, const int8_t *c1, const int8_t *c2)
{
    const int32_t f = (int32_t)((uint32_t)(uint16_t)f1 | (uint32_t)(uint16_t)f2 << 16), whole = n & ~3;
    int32_t i;
    for (i = 0; i < whole; i += 4) {
        const int32_t wa = jx_load4(c1 + i), wb = jx_load4(c2 + i);
        const uint32_t a = (uint32_t)__sxtb16(wa), b = (uint32_t)__sxtb16(wb);
        const uint32_t ao = (uint32_t)jx_sxtb16_odd(wa), bo = (uint32_t)jx_sxtb16_odd(wb);
        out[i] = __smlad((int32_t)((a & 0xFFFFu) | (b << 16)), f, out[i]);
        out[i + 1] = __smlad((int32_t)((ao & 0xFFFFu) | (bo << 16)), f, out[i + 1]);
        out[i + 2] = __smlad((int32_t)((a >> 16) | (b & 0xFFFF0000u)), f, out[i + 2]);
        out[i + 3] = __smlad((int32_t)((ao >> 16) | (bo & 0xFFFF0000u)), f, out[i + 3]);
    }
    for (; i < n; ++i)
        out[i] += f1 * c1[i] + f2 * c2[i];
}
#endif

/* out[i] += f1 * column k1 + f2 * column k2 (n codes each): two propagated units' updates. */
static void jx_axpy2(JX_ACC *out, int32_t n, JX_ACC f1, JX_ACC f2, const jx_weights *w, uint32_t k1, uint32_t k2)
{
#if defined(JX_SIMD32)
    if (w->storage == JX_BYTES) {
        jx_axpy2_bytes(out, n, f1, f2, (const int8_t *)w->data + k1, (const int8_t *)w->data + k2);
        return;
    }
#endif
    jx_axpy(out, n, f1, w, k1);
    jx_axpy(out, n, f2, w, k2);
}

/* out[i] = sat(zero + round(acc[i] * mult / 2^shift)): a linear operator's requantization. */
static void jx_requantize(JX_CODE *out, const JX_ACC *acc, int32_t n, int32_t mult, int32_t shift,
                          int32_t zero, int32_t qmin, int32_t qmax)
{
    int32_t i;
    for (i = 0; i < n; ++i)
        out[i] = jx_requantize_one(acc[i], mult, shift, zero, qmin, qmax);
}
/* A delta source: each of its n units whose code moved by more than theta since it was last
 * propagated adds its column (input-major weights: column j is codes j*n_out .. j*n_out+n_out-1),
 * times the move, to the memory of every linear operator on the source (n_ops of them, n_out
 * units each), and becomes the code last propagated. Returns the number of units propagated. */
static uint32_t jx_delta(JX_CODE *last, const JX_CODE *s, int32_t n, int32_t theta, int32_t n_ops,
                         JX_ACC *const *memory, const jx_weights *const *w, int32_t n_out)
{
    uint32_t propagated = 0;
    int32_t j, k, waiting = -1, waiting_move = 0; /* units go in pairs (jx_axpy2); one may wait */
    for (j = 0; j < n; ++j) {
        int32_t move = (int32_t)s[j] - last[j];
        if (move > theta || move < -theta) {
            if (waiting < 0) {
                waiting = j;
                waiting_move = move;
            } else {
                for (k = 0; k < n_ops; ++k)
                    jx_axpy2(memory[k], n_out, (JX_ACC)waiting_move, (JX_ACC)move, w[k],
                             (uint32_t)waiting * (uint32_t)n_out, (uint32_t)j * (uint32_t)n_out);
                waiting = -1;
            }
            last[j] = s[j];
            ++propagated;
        }
    }
    if (waiting >= 0)
        for (k = 0; k < n_ops; ++k)
            jx_axpy(memory[k], n_out, (JX_ACC)waiting_move, w[k], (uint32_t)waiting * (uint32_t)n_out);
    return propagated;
}

/* A delta memory's start: M = W s_hat + b with s_hat at the source's zero point. */
static void jx_delta_reset(JX_ACC *memory, const jx_weights *w, const JX_ACC *b, int32_t n_in, int32_t n_out,
                           int32_t zero)
{
    int32_t i, j;
    for (i = 0; i < n_out; ++i)
        memory[i] = b[i];
    for (j = 0; j < n_in; ++j)
        jx_axpy(memory, n_out, (JX_ACC)zero, w, (uint32_t)j * (uint32_t)n_out);
}
#endif

/* Elementwise operators compute in JX_ELEM: int32_t on the narrow datapath, where their 14-bit
 * multipliers and shifts <= 31 keep |value| + 2^(shift-1) below 2^31 (as in the JAX model),
 * int64_t on the wide one. */
static JX_CODE jx_rescale(int32_t zero, JX_ELEM value, int32_t shift, int32_t qmin, int32_t qmax)
{
    JX_ELEM q = (value + ((JX_ELEM)1 << (shift - 1))) >> shift;
    q += zero;
    return (JX_CODE)(q < qmin ? qmin : (q > qmax ? qmax : q));
}

#if defined(JX_USE_ADD)
/* add: out = sat(zero + round((offset + mult_a * a + mult_b * b) / 2^shift)). */
static void jx_add(JX_CODE *out, const JX_CODE *a, const JX_CODE *b, int32_t n, JX_ELEM offset, int32_t mult_a,
                   int32_t mult_b, int32_t shift, int32_t zero, int32_t qmin, int32_t qmax)
{
    int32_t i;
    for (i = 0; i < n; ++i)
        out[i] = jx_rescale(zero, offset + (JX_ELEM)mult_a * a[i] + (JX_ELEM)mult_b * b[i], shift, qmin, qmax);
}
#endif

#if defined(JX_USE_SUB1)
/* sub1: out = sat(zero + round((offset + mult_a * a) / 2^shift)); the constant 1 is in offset. */
static void jx_sub1(JX_CODE *out, const JX_CODE *a, int32_t n, JX_ELEM offset, int32_t mult_a, int32_t shift,
                    int32_t zero, int32_t qmin, int32_t qmax)
{
    int32_t i;
    for (i = 0; i < n; ++i)
        out[i] = jx_rescale(zero, offset + (JX_ELEM)mult_a * a[i], shift, qmin, qmax);
}
#endif

#if defined(JX_USE_MUL)
/* mul: out = sat(zero + round((a - za) * (b - zb) * mult / 2^shift)). */
static void jx_mul(JX_CODE *out, const JX_CODE *a, const JX_CODE *b, int32_t n, int32_t za, int32_t zb,
                   int32_t mult, int32_t shift, int32_t zero, int32_t qmin, int32_t qmax)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        JX_ELEM product = (JX_ELEM)((int32_t)a[i] - za) * ((int32_t)b[i] - zb);
        out[i] = jx_rescale(zero, product * mult, shift, qmin, qmax);
    }
}
#endif

#if defined(JX_USE_SCALE)
static int32_t jx_weight_at(const jx_weights *w, uint32_t k)
{
    jx_reader r;
    if (w->storage == JX_BYTES)
        return ((const int8_t *)w->data)[k];
    if (w->storage == JX_HALFWORDS)
        return ((const int16_t *)w->data)[k];
    jx_reader_at(&r, w->data, k, w->bits);
    return jx_read(&r);
}

/* scale: out = sat(zero + round((a - za) * v[i] * mult / 2^shift)), v a per-unit vector. */
static void jx_scale(JX_CODE *out, const JX_CODE *a, const jx_weights *v, int32_t n, int32_t za, int32_t mult,
                     int32_t shift, int32_t zero, int32_t qmin, int32_t qmax)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        JX_ELEM product = (JX_ELEM)((int32_t)a[i] - za) * jx_weight_at(v, (uint32_t)i);
        out[i] = jx_rescale(zero, product * mult, shift, qmin, qmax);
    }
}
#endif

#if defined(JX_USE_RELU)
/* relu: out = sat(zero + round(max(a - za, 0) * mult / 2^shift)). */
static void jx_relu(JX_CODE *out, const JX_CODE *a, int32_t n, int32_t za, int32_t mult, int32_t shift,
                    int32_t zero, int32_t qmin, int32_t qmax)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        int32_t d = (int32_t)a[i] - za;
        out[i] = jx_rescale(zero, (JX_ELEM)(d > 0 ? d : 0) * mult, shift, qmin, qmax);
    }
}
#endif

#if defined(JX_USE_TABLE)
/* sigmoid, tanh: out = table[a - qmin_a], a table over the operand's whole code range. */
static void jx_table(JX_CODE *out, const JX_CODE *a, int32_t n, const JX_CODE *table, int32_t qmin_a)
{
    int32_t i;
    for (i = 0; i < n; ++i)
        out[i] = table[(int32_t)a[i] - qmin_a];
}
#endif
