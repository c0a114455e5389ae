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
 */

/* Right shifts of negative values are implementation-defined in C; jaxgru needs the arithmetic
 * shift (floor division) that every compiler for these targets gives. Refuse any other. */
typedef char jx_needs_arithmetic_right_shift[(((int32_t)-1) >> 1) == -1 ? 1 : -1];
typedef char jx_needs_arithmetic_right_shift64[(((int64_t)-1) >> 1) == -1 ? 1 : -1];

enum { JX_BYTES = 0, JX_HALFWORDS = 1, JX_PACKED = 2 };

typedef struct {
    const void *data; /* int8_t[], int16_t[] or packed uint8_t[] */
    int32_t storage;  /* JX_BYTES, JX_HALFWORDS or JX_PACKED */
    int32_t bits;     /* the codes' width */
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
 * instead; both give the same bits (the sums are the same integers, and no product or partial sum
 * can wrap). */
#include <arm_acle.h>
#define JX_SIMD32

static int32_t jx_load4(const void *p) /* four bytes, any alignment, as one little-endian word */
{
    const uint8_t *u = (const uint8_t *)p;
    return (int32_t)((uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24);
}

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

#if defined(JX_SIMD32) && defined(JX_USE_DENSE)
/* A row's weights are read a 32-bit word at a time: 32/b codes of b = 8, 4 or 2 bits, h = 16/b of
 * them in each half. The k-th value of a word (k < h) is the pair of halves that holds code k of
 * each half: for bytes, SXTB16 (k = 0: bytes 0 and 2; k = 1, rotated: bytes 1 and 3); below 8 bits,
 * the word shifted left so that those codes fill the top b bits of each half and masked, which is
 * each code times 2^(16-b), sign included. The codes are arranged once per call in the same
 * pairs, (q[j+k], q[j+h+k]), so each word costs one load, h masks (or SXTB16s) and h SMLADs per
 * row, and two rows share every load of the pairs. Sums below 8 bits are 2^(16-b) times the dot
 * product, shifted back after each partial sum of at most JX_DSP_CHUNK codes. */
#define JX_DSP
#define JX_DSP_CHUNK 256 /* codes per partial sum: 256 products of at most 2^15 * 2^7 < 2^31 */

/* pairs[g * h + k] = (q[32/b * g + k], q[32/b * g + h + k]) for the n / (32/b) whole words */
static void jx_pairs(int32_t *pairs, const int8_t *q, int32_t n, int32_t bits)
{
    const int32_t h = 16 / bits;
    int32_t j, k;
    for (j = 0; j + 2 * h <= n; j += 2 * h)
        for (k = 0; k < h; ++k)
            *pairs++ = (int32_t)((uint32_t)(uint16_t)q[j + k] | (uint32_t)(uint16_t)q[j + h + k] << 16);
}

/* One word w of a row times its pairs, added to s: 2 (bytes), 4 (4 bits) or 8 (2 bits) SMLADs. */
#define JX_M(s, v, k) s = __smlad((int32_t)(v), pairs[k], s)
#define JX_TOP(w, sh, m) (((uint32_t)(w) << (sh)) & (m))
#define JX_WORD8(s, w) (JX_M(s, __sxtb16(w), 0), JX_M(s, jx_sxtb16_odd(w), 1))
#define JX_WORD4(s, w) (JX_M(s, JX_TOP(w, 12, m), 0), JX_M(s, JX_TOP(w, 8, m), 1), JX_M(s, JX_TOP(w, 4, m), 2), \
                        JX_M(s, JX_TOP(w, 0, m), 3))
#define JX_WORD2(s, w) (JX_M(s, JX_TOP(w, 14, m), 0), JX_M(s, JX_TOP(w, 12, m), 1), JX_M(s, JX_TOP(w, 10, m), 2), \
                        JX_M(s, JX_TOP(w, 8, m), 3), JX_M(s, JX_TOP(w, 6, m), 4), JX_M(s, JX_TOP(w, 4, m), 5),   \
                        JX_M(s, JX_TOP(w, 2, m), 6), JX_M(s, JX_TOP(w, 0, m), 7))
#define JX_WORD(s, w) (bits == 8 ? JX_WORD8(s, w) : bits == 4 ? JX_WORD4(s, w) : JX_WORD2(s, w))

/* sum_j q[j] * (code j of the n codes from t): a row's codes after its last whole word, which are
 * whole bytes on these paths (n * b a multiple of 8), a byte at a time. */
JX_INLINE int32_t jx_tail_dot(const uint8_t *t, const int8_t *q, int32_t n, int32_t bits)
{
    int32_t acc = 0, j;
    for (j = 0; j < n; j += 8 / bits, ++t) { /* written out: 1, 2 or 4 codes a byte */
        const uint32_t v = *t;
        acc += (int32_t)q[j] * jx_group_code(v, 0u, 0, bits);
        if (bits <= 4)
            acc += (int32_t)q[j + 1] * jx_group_code(v, 0u, 1, bits);
        if (bits == 2)
            acc += (int32_t)q[j + 2] * jx_group_code(v, 0u, 2, bits) +
                   (int32_t)q[j + 3] * jx_group_code(v, 0u, 3, bits);
    }
    return acc;
}

/* s[r] = sum over `words` words of row r < rows (1 or 2; row 1 at p + stride) times the pairs. */
JX_INLINE void jx_rows(int32_t *s, const uint8_t *p, uint32_t stride, const int32_t *pairs, int32_t words,
                       int32_t bits, int32_t rows)
{
    const uint32_t top = (((uint32_t)1 << bits) - 1u) << (16 - bits), m = top | top << 16;
    const uint8_t *p1 = p + stride;
    const int32_t h = 16 / bits, *end = pairs + (words & ~1) * h;
    int32_t s0 = 0, s1 = 0, w;
    (void)m;
    if (rows == 1) {
        for (end += (words & 1) * h; pairs != end; p += 4, pairs += h) {
            w = jx_load4(p);
            JX_WORD(s0, w);
        }
        s[0] = s0;
        return;
    }
    for (; pairs != end; p += 8, p1 += 8, pairs += 2 * h) { /* two words of two rows */
        w = jx_load4(p);
        JX_WORD(s0, w);
        w = jx_load4(p1);
        JX_WORD(s1, w);
        pairs += h;
        w = jx_load4(p + 4);
        JX_WORD(s0, w);
        w = jx_load4(p1 + 4);
        JX_WORD(s1, w);
        pairs -= h;
    }
    if (words & 1) {
        w = jx_load4(p);
        JX_WORD(s0, w);
        w = jx_load4(p1);
        JX_WORD(s1, w);
    }
    s[0] = s0;
    s[1] = s1;
}

#if defined(__GNUC__)
#define JX_ROWS4
/* s[r] += row r < 4 (row r at p + r * stride, 8-bit bytes) times the pairs, over `words` words:
 * per word one LDRD of pairs, 4 loads, 8 SXTB16, 8 SMLAD and 2 for the loop (23
 * instructions per 16 MACs). Written in assembly because GCC spills the row pointers here. */
static void jx_rows4_bytes(int32_t *s, const uint8_t *p, uint32_t stride, const int32_t *pairs, int32_t words)
{
    int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], w, t, pe, po;
    const uint8_t *p2 = p + 2u * stride;
    const int32_t *end = pairs + 2 * words;
    if (words <= 0)
        return;
    __asm__ volatile(
        "1:\n\t"
        "ldrd   %[pe], %[po], [%[pairs]], #8\n\t"
        "ldr    %[w], [%[p], %[stride]]\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad  %[s1], %[t], %[pe], %[s1]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad  %[s1], %[t], %[po], %[s1]\n\t"
        "ldr    %[w], [%[p]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad  %[s0], %[t], %[pe], %[s0]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad  %[s0], %[t], %[po], %[s0]\n\t"
        "ldr    %[w], [%[p2], %[stride]]\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad  %[s3], %[t], %[pe], %[s3]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad  %[s3], %[t], %[po], %[s3]\n\t"
        "ldr    %[w], [%[p2]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad  %[s2], %[t], %[pe], %[s2]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad  %[s2], %[t], %[po], %[s2]\n\t"
        "cmp    %[pairs], %[end]\n\t"
        "bne    1b\n\t"
        : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [p] "+r"(p), [p2] "+r"(p2),
          [pairs] "+r"(pairs), [w] "=&r"(w), [t] "=&r"(t), [pe] "=&r"(pe), [po] "=&r"(po)
        : [stride] "r"(stride), [end] "r"(end)
        : "cc", "memory");
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}
#endif

/* The accumulators b[i] + W[i] . q of rows i0 .. i0+ROWS-1, b = 8, 4 or 2 bits in bytes or packed,
 * every row starting on a byte; pairs as jx_pairs arranged q. */
JX_INLINE void jx_rows_dot(int32_t *acc, const jx_weights *w, const int32_t *pairs, const int8_t *q, int32_t n_in,
                           int32_t i0, int32_t bits, int32_t rows)
{
    const int32_t per_word = 32 / bits, words = n_in / per_word, chunk = JX_DSP_CHUNK / per_word;
    const uint32_t stride = (uint32_t)n_in * (uint32_t)bits / 8u;
    const uint8_t *p = (const uint8_t *)w->data + (uint32_t)i0 * stride;
    int32_t g, r, s[2];
    for (g = 0; g < words; g += chunk) { /* below 8 bits, partial sums of at most JX_DSP_CHUNK codes */
        jx_rows(s, p + 4u * (uint32_t)g, stride, pairs + g * (per_word / 2), words - g < chunk ? words - g : chunk,
                bits, rows);
        for (r = 0; r < rows; ++r) /* exact: each sum is a multiple of 2^(16-b) */
            acc[r] += s[r] >> (bits == 8 ? 0 : 16 - bits);
    }
    for (r = 0; r < rows; ++r)
        acc[r] += jx_tail_dot(p + (uint32_t)r * stride + 4u * (uint32_t)words, q + words * per_word,
                              n_in - words * per_word, bits);
}

/* sat(zero + round(acc * mult / 2^shift)) for shift >= 33 in 32-bit words: with P = acc * mult =
 * hi * 2^32 + lo, floor((P + 2^(shift-1)) / 2^shift) = (hi + 2^(shift-33)) >> (shift-32) exactly,
 * and one SMULL gives hi (|hi| < 2^30). A smaller shift is raised to 33 beforehand by doubling
 * the multiplier (mult * 2^k over 2^(shift+k) rounds the same), where it stays below 2^31. */
JX_INLINE JX_CODE jx_requantize_high(int32_t acc, int32_t mult, int32_t shift, int32_t zero, int32_t qmin,
                                     int32_t qmax)
{
    int32_t q = zero + (((int32_t)((int64_t)acc * mult >> 32) + ((int32_t)1 << (shift - 33))) >> (shift - 32));
    return (JX_CODE)(q < qmin ? qmin : (q > qmax ? qmax : q));
}

/* The linear operator (below) through SMLAD, two rows at a time. */
JX_INLINE void jx_linear_dsp(JX_CODE *out, const JX_CODE *q, int32_t n_in, int32_t n_out, const jx_weights *w,
                             int32_t bits, const JX_ACC *b, int32_t mult, int32_t shift, int32_t zero, int32_t qmin,
                             int32_t qmax)
{
    int32_t pairs[JX_MAX_IN / 2 + 1];
    int32_t i = 0, r, acc[4];
    for (; shift < 33 && mult < (1 << 30) && mult >= -(1 << 30); ++shift) /* see jx_requantize_high */
        mult *= 2;
    jx_pairs(pairs, q, n_in, bits);
#if defined(JX_ROWS4)
    if (bits == 8) { /* four rows at a time; no partial sums needed: |products| <= 2^14 */
        const int32_t words = n_in / 4;
        for (; i + 4 <= n_out; i += 4) {
            for (r = 0; r < 4; ++r)
                acc[r] = b[i + r];
            jx_rows4_bytes(acc, (const uint8_t *)w->data + (uint32_t)i * (uint32_t)n_in, (uint32_t)n_in, pairs, words);
            for (r = 0; r < 4; ++r) {
                const uint8_t *row = (const uint8_t *)w->data + (uint32_t)(i + r) * (uint32_t)n_in;
                acc[r] += jx_tail_dot(row + 4u * (uint32_t)words, q + 4 * words, n_in - 4 * words, 8);
                out[i + r] = shift < 33 ? jx_saturate(zero, jx_round_shift((int64_t)acc[r] * mult, shift), qmin, qmax)
                                        : jx_requantize_high(acc[r], mult, shift, zero, qmin, qmax);
            }
        }
    }
#endif
    for (; i < n_out; i += 2) {
        const int32_t rows = n_out - i < 2 ? n_out - i : 2;
        for (r = 0; r < rows; ++r)
            acc[r] = b[i + r];
        if (rows == 2) {
            jx_rows_dot(acc, w, pairs, q, n_in, i, bits, 2);
        } else {
            for (r = 0; r < rows; ++r)
                jx_rows_dot(acc + r, w, pairs, q, n_in, i + r, bits, 1);
        }
        for (r = 0; r < rows; ++r)
            out[i + r] = shift < 33 ? jx_saturate(zero, jx_round_shift((int64_t)acc[r] * mult, shift), qmin, qmax)
                                    : jx_requantize_high(acc[r], mult, shift, zero, qmin, qmax);
    }
}
#endif

#if defined(JX_USE_DENSE)
/* linear: out = requantize(W s + b), W output-major (row i is codes i*n_in .. i*n_in+n_in-1). */
static void jx_linear(JX_CODE *out, const JX_CODE *s, int32_t n_in, int32_t n_out, const jx_weights *w,
                      const JX_ACC *b, int32_t mult, int32_t shift, int32_t zero, int32_t qmin, int32_t qmax)
{
    int32_t i;
#if defined(JX_DSP)
    if (w->storage == JX_BYTES) {
        jx_linear_dsp(out, s, n_in, n_out, w, 8, b, mult, shift, zero, qmin, qmax);
        return;
    }
    if (w->storage == JX_PACKED && (w->bits == 4 || w->bits == 2) && (n_in * w->bits) % 8 == 0) {
        if (w->bits == 4)
            jx_linear_dsp(out, s, n_in, n_out, w, 4, b, mult, shift, zero, qmin, qmax);
        else
            jx_linear_dsp(out, s, n_in, n_out, w, 2, b, mult, shift, zero, qmin, qmax);
        return;
    }
#endif
    for (i = 0; i < n_out; ++i) {
        JX_ACC acc = b[i] + jx_dot(w, (uint32_t)i * (uint32_t)n_in, n_in, s);
        out[i] = jx_saturate(zero, jx_round_shift((int64_t)acc * mult, shift), qmin, qmax);
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
        out[i] = jx_saturate(zero, jx_round_shift((int64_t)acc[i] * mult, shift), qmin, qmax);
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
