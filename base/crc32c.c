/*
 * base/crc32c.c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) in two implementations.
 *
 * - Hardware (x86-64 with SSE4.2 and PCLMULQDQ): the `crc32` instruction has a latency of three
 *   cycles and a throughput of one per cycle, so one dependency chain runs at a third of the
 *   possible speed.  A block of 3*L bytes is split into three streams A|B|C of L bytes whose CRCs
 *   are computed at the same time (A continuing the running CRC, B and C from zero) and then
 *   combined: crc(A|B|C) = crcA * x^(16L) ^ crcB * x^(8L) ^ crcC (mod P), where each
 *   multiplication is one carry-less multiply by a constant and one `crc32` to reduce.
 * - Portable: slicing-by-8 tables.
 *
 * Both work on the raw CRC register; the pre- and post-inversion that CRC-32C defines is done at
 * the entry points, so rt_crc32c(rt_crc32c(0, a), b) == rt_crc32c(0, a|b).
 *
 * The choice is made once (pthread_once, also run by a constructor before main so that the
 * first real call pays nothing) together with filling the tables: a caller in another
 * constructor, which may run first, still gets a correct result.  The fast functions carry
 * target attributes so the rest of the build needs no -msse4.2 and the fallback really runs on
 * a CPU without those instructions.
 */
#include "base/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define POLY 0x82F63B78u

/* Slicing-by-8 tables; sw_table[0] is the classic byte-at-a-time table. */
static uint32_t sw_table[8][256];

static uint32_t crc_sw_raw(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n && ((uintptr_t)p & 7)) {
		crc = sw_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		n--;
	}
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		/* Little-endian word: the low byte is the first byte of the stream. */
		w ^= crc;
		crc = sw_table[7][w & 0xff] ^ sw_table[6][(w >> 8) & 0xff] ^
		      sw_table[5][(w >> 16) & 0xff] ^ sw_table[4][(w >> 24) & 0xff] ^
		      sw_table[3][(w >> 32) & 0xff] ^ sw_table[2][(w >> 40) & 0xff] ^
		      sw_table[1][(w >> 48) & 0xff] ^ sw_table[0][w >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = sw_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

static inline void ensure_init(void);

uint32_t rt_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	ensure_init();
	return ~crc_sw_raw(~crc, p, n);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* Stream lengths of the interleaved loop; each has its pair of shift constants. */
#define LONG_LEN 8192
#define SHORT_LEN 256
#define TAIL_LEN 64    /* a buffer's tail: a 1,448-byte TCP segment's CRC ran half 1-way without */

/* x^(8*L*k - 33) mod P for k = 1, 2 (see shift()), filled by the constructor. */
static uint64_t k_long[2], k_short[2], k_tail[2];

#define HW_TARGET __attribute__((target("sse4.2,pclmul")))

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

/* One stream: the plain loop, 8 bytes per instruction. */
HW_TARGET static uint32_t crc_hw_1way(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = crc;
	while (n >= 8) {
		c = _mm_crc32_u64(c, load64(p));
		p += 8;
		n -= 8;
	}
	crc = (uint32_t)c;
	while (n--)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}

/*
 * Reflected bit order makes a 32x32 carry-less product come out as a*b*x in 64-bit reflected
 * form, and `crc32` of a 64-bit word with crc 0 multiplies by x^32 and reduces; so a*k with
 * k = x^(8L-33) gives a * x^(8L) mod P, i.e. a advanced over L zero bytes.
 */
HW_TARGET static inline uint64_t clmul(uint32_t a, uint64_t k)
{
	__m128i r = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a), _mm_cvtsi64_si128((long long)k), 0);
	return (uint64_t)_mm_cvtsi128_si64(r);
}

HW_TARGET static inline uint32_t combine3(uint32_t a, uint32_t b, uint32_t c, const uint64_t k[2])
{
	uint64_t v = clmul(a, k[1]) ^ clmul(b, k[0]);
	return (uint32_t)_mm_crc32_u64(0, v) ^ c;
}

/* Three streams of `len` bytes each, folded together, for as long as 3 * len bytes remain;
 * advances *p and *n.  Always inlined so that each constant `len` unrolls as its own loop. */
HW_TARGET static inline __attribute__((always_inline)) uint32_t
stride3(uint32_t crc, const uint8_t **pp, size_t *np, size_t len, const uint64_t k[2])
{
	const uint8_t *p = *pp;
	size_t n = *np;
	while (n >= 3 * len) {
		uint64_t a = crc, b = 0, c = 0;
		for (size_t i = 0; i < len; i += 8) {
			a = _mm_crc32_u64(a, load64(p + i));
			b = _mm_crc32_u64(b, load64(p + len + i));
			c = _mm_crc32_u64(c, load64(p + 2 * len + i));
		}
		crc = combine3((uint32_t)a, (uint32_t)b, (uint32_t)c, k);
		p += 3 * len;
		n -= 3 * len;
	}
	*pp = p;
	*np = n;
	return crc;
}

HW_TARGET static uint32_t crc_hw_3way(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = stride3(crc, &p, &n, LONG_LEN, k_long);
	crc = stride3(crc, &p, &n, SHORT_LEN, k_short);
	crc = stride3(crc, &p, &n, TAIL_LEN, k_tail);
	return crc_hw_1way(crc, p, n);
}

/* x^n mod P in reflected form (x^0 is bit 31), by n multiplications by x: start-up only. */
static uint32_t xpow_mod(uint32_t n)
{
	uint32_t r = 0x80000000u;
	while (n--)
		r = (r & 1) ? (r >> 1) ^ POLY : r >> 1;
	return r;
}
#endif

typedef uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);

static crc_fn impl = crc_sw_raw;
static const char *impl_name = "sw";
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool ready; /* set (release) once the tables and impl are in place */

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int j = 0; j < 8; j++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		sw_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			sw_table[t][i] = (sw_table[t - 1][i] >> 8) ^ sw_table[0][sw_table[t - 1][i] & 0xff];

#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2")) {
		if (__builtin_cpu_supports("pclmul")) {
			k_short[0] = xpow_mod(8 * SHORT_LEN - 33);
			k_short[1] = xpow_mod(16 * SHORT_LEN - 33);
			k_long[0] = xpow_mod(8 * LONG_LEN - 33);
			k_long[1] = xpow_mod(16 * LONG_LEN - 33);
			k_tail[0] = xpow_mod(8 * TAIL_LEN - 33);
			k_tail[1] = xpow_mod(16 * TAIL_LEN - 33);
			impl = crc_hw_3way;
			impl_name = "sse4.2";
		} else {
			impl = crc_hw_1way;
			impl_name = "sse4.2-1way";
		}
	}
#endif
	__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
}

static inline void ensure_init(void)
{
	if (__builtin_expect(!__atomic_load_n(&ready, __ATOMIC_ACQUIRE), 0))
		pthread_once(&init_once, crc32c_init);
}

__attribute__((constructor)) static void crc32c_init_early(void)
{
	ensure_init();
}

uint32_t rt_crc32c(uint32_t crc, const void *p, size_t n)
{
	ensure_init();
	return ~impl(~crc, p, n);
}

const char *rt_crc32c_impl(void)
{
	ensure_init();
	return impl_name;
}
