/*
 * textfmt.c - shortest round-trip numbers, the write-combining writer
 * and the escapers; see textfmt.h.
 *
 * Shortest digits: Ulf Adams' Ryu (PLDI 2018). A double m2 * 2^e2 has a
 * rounding interval [mm, mp]; Ryu scales mm, v and mp to decimal with one
 * 64x128-bit multiply by a 125-bit approximation of 5^q or 2^k/5^q,
 * exact enough to decide every digit, then drops decimal digits while
 * the scaled bounds still differ, rounding the last one to nearest. The
 * two tables (326 powers of 5 and 342 inverses, 125 bits each) are
 * computed once, on first use, with a small shift-and-divide bignum
 * rather than shipped as 700 lines of constants.
 */
#include "encode/textfmt.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

#define POW5_BITS  125 /* bits of each table entry */
#define POW5_N	   326 /* 5^0 .. 5^325: e2 < 0 */
#define POW5_INV_N 342 /* 2^k/5^0 .. 2^k/5^341: e2 >= 0 */
#define BIG_LIMBS  32  /* 1024-bit bignum, enough for both tables */
#define INV_SHIFT  992 /* 2^INV_SHIFT / 5^i has every bit we need */

static uint64_t pow5_tab[POW5_N][2];	     /* [lo, hi] */
static uint64_t pow5_inv_tab[POW5_INV_N][2]; /* [lo, hi] */
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

/* ceil(log2(5^e)) for e >= 1, and 1 for e = 0: the bit length of 5^e. */
static int pow5bits(int e)
{
	return (int)((((uint32_t)e * 1217359) >> 19) + 1);
}

/* floor(log10(2^e)), 0 <= e <= 1650. */
static int log10_pow2(int e)
{
	return (int)(((uint32_t)e * 78913) >> 18);
}

/* floor(log10(5^e)), 0 <= e <= 2620. */
static int log10_pow5(int e)
{
	return (int)(((uint32_t)e * 732923) >> 20);
}

/* Bits [s, s + 128) of the bignum x (little-endian 32-bit limbs); bits
 * below 0 read as 0, so a negative s shifts left. */
static void big_window(const uint32_t *x, int s, uint64_t out[2])
{
	out[0] = out[1] = 0;
	for (int bit = 0; bit < 128; bit++) {
		int idx = s + bit;
		if (idx < 0 || idx >= BIG_LIMBS * 32)
			continue;
		uint64_t v = (x[idx / 32] >> (idx % 32)) & 1;
		out[bit / 64] |= v << (bit % 64);
	}
}

static int big_bitlen(const uint32_t *x)
{
	for (int i = BIG_LIMBS - 1; i >= 0; i--)
		if (x[i] != 0)
			return i * 32 + 32 - __builtin_clz(x[i]);
	return 0;
}

static void big_mul5(uint32_t *x)
{
	uint64_t carry = 0;
	for (int i = 0; i < BIG_LIMBS; i++) {
		uint64_t t = (uint64_t)x[i] * 5 + carry;
		x[i] = (uint32_t)t;
		carry = t >> 32;
	}
}

static void big_div5(uint32_t *x)
{
	uint64_t rem = 0;
	for (int i = BIG_LIMBS - 1; i >= 0; i--) {
		uint64_t t = (rem << 32) | x[i];
		x[i] = (uint32_t)(t / 5);
		rem = t % 5;
	}
}

/*
 * pow5_tab[i]     = 5^i scaled to exactly POW5_BITS bits (truncated).
 * pow5_inv_tab[i] = floor(2^j / 5^i) + 1, j = pow5bits(i) - 1 + POW5_BITS.
 * The second uses floor(floor(2^N / 5^(i-1)) / 5) = floor(2^N / 5^i), so
 * dividing 2^INV_SHIFT by 5 repeatedly is exact.
 */
static void tab_init(void)
{
	uint32_t p[BIG_LIMBS] = {1};
	for (int i = 0; i < POW5_N; i++) {
		big_window(p, big_bitlen(p) - POW5_BITS, pow5_tab[i]);
		big_mul5(p);
	}
	uint32_t q[BIG_LIMBS] = {0};
	q[INV_SHIFT / 32] = 1u << (INV_SHIFT % 32);
	for (int i = 0; i < POW5_INV_N; i++) {
		int j = pow5bits(i) - 1 + POW5_BITS;
		uint64_t *t = pow5_inv_tab[i];
		big_window(q, INV_SHIFT - j, t);
		if (++t[0] == 0)
			t[1]++;
		big_div5(q);
	}
}

/* (m * mul) >> j, for the 128-bit mul and 64 <= j < 192. */
static uint64_t mul_shift(uint64_t m, const uint64_t *mul, int j)
{
	u128 lo = (u128)m * mul[0];
	u128 hi = (u128)m * mul[1];
	return (uint64_t)(((lo >> 64) + hi) >> (j - 64));
}

static int pow5_factor(uint64_t v)
{
	int n = 0;
	while (v % 5 == 0) {
		v /= 5;
		n++;
	}
	return n;
}

/* Shortest digits of finite v, nearest of the shortest: |v| = *digits *
 * 10^*e10, no trailing zeros. Thread-safe. The one function here over
 * 100 lines, on purpose: it is Ryu's core loop (Adams 2018), whose steps
 * share a dozen live variables and read best beside the paper as one
 * piece; split, they would be helpers with long argument lists. */
void vt__num_shortest(double v, uint64_t *digits, int *e10)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	uint64_t ieee_m = bits & ((1ull << 52) - 1);
	uint32_t ieee_e = (uint32_t)((bits >> 52) & 0x7ff);
	if (ieee_m == 0 && ieee_e == 0) {
		*digits = 0;
		*e10 = 0;
		return;
	}
	/* Integers below 2^53 are their own shortest form. */
	double a = fabs(v);
	if (a < 9007199254740992.0 && a == (double)(uint64_t)a) {
		uint64_t n = (uint64_t)a;
		int z = 0;
		while (n % 10 == 0) {
			n /= 10;
			z++;
		}
		*digits = n;
		*e10 = z;
		return;
	}
	pthread_once(&tab_once, tab_init);

	int e2;
	uint64_t m2;
	if (ieee_e == 0) {
		e2 = 1 - 1023 - 52 - 2;
		m2 = ieee_m;
	} else {
		e2 = (int)ieee_e - 1023 - 52 - 2;
		m2 = (1ull << 52) | ieee_m;
	}
	/* Round-to-even: an even mantissa owns its interval's bounds. */
	bool accept = (m2 & 1) == 0;
	/* v = mv/4 * 2^(e2+2); the interval is [mv - 1 - mm_shift, mv + 2]
	 * in those units (the lower gap halves at a power of two). */
	uint64_t mv = 4 * m2;
	uint64_t mm_shift = ieee_m != 0 || ieee_e <= 1;
	uint64_t vr, vp, vm;
	int exp10;
	bool vm_tz = false, vr_tz = false; /* dropped digits all zero */

	if (e2 >= 0) {
		int q = log10_pow2(e2) - (e2 > 3);
		int j = -e2 + q + POW5_BITS + pow5bits(q) - 1;
		exp10 = q;
		vr = mul_shift(mv, pow5_inv_tab[q], j);
		vp = mul_shift(mv + 2, pow5_inv_tab[q], j);
		vm = mul_shift(mv - 1 - mm_shift, pow5_inv_tab[q], j);
		if (q <= 21) {
			/* Exact division by 10^q iff 5^q divides. */
			if (mv % 5 == 0)
				vr_tz = pow5_factor(mv) >= q;
			else if (accept)
				vm_tz = pow5_factor(mv - 1 - mm_shift) >= q;
			else
				vp -= pow5_factor(mv + 2) >= q;
		}
	} else {
		int q = log10_pow5(-e2) - (-e2 > 1);
		int i = -e2 - q;
		int j = q - (pow5bits(i) - POW5_BITS);
		exp10 = q + e2;
		vr = mul_shift(mv, pow5_tab[i], j);
		vp = mul_shift(mv + 2, pow5_tab[i], j);
		vm = mul_shift(mv - 1 - mm_shift, pow5_tab[i], j);
		if (q <= 1) {
			vr_tz = true;
			if (accept)
				vm_tz = mm_shift == 1;
			else
				--vp;
		} else if (q < 63) {
			/* Exact division by 2^q iff 2^q divides. */
			vr_tz = (mv & ((1ull << q) - 1)) == 0;
		}
	}

	int removed = 0;
	unsigned last = 0; /* last digit dropped from vr */
	uint64_t out;
	if (vm_tz || vr_tz) {
		/* Rare: exact ties are possible; track them. */
		while (vp / 10 > vm / 10) {
			vm_tz &= vm % 10 == 0;
			vr_tz &= last == 0;
			last = (unsigned)(vr % 10);
			vr /= 10;
			vp /= 10;
			vm /= 10;
			removed++;
		}
		if (vm_tz) {
			while (vm % 10 == 0) {
				vr_tz &= last == 0;
				last = (unsigned)(vr % 10);
				vr /= 10;
				vp /= 10;
				vm /= 10;
				removed++;
			}
		}
		if (vr_tz && last == 5 && vr % 2 == 0)
			last = 4; /* exactly half: round to even */
		out = vr + ((vr == vm && (!accept || !vm_tz)) || last >= 5);
	} else {
		bool round_up = false;
		if (vp / 100 > vm / 100) { /* two digits at once, mostly */
			round_up = vr % 100 >= 50;
			vr /= 100;
			vp /= 100;
			vm /= 100;
			removed += 2;
		}
		while (vp / 10 > vm / 10) {
			round_up = vr % 10 >= 5;
			vr /= 10;
			vp /= 10;
			vm /= 10;
			removed++;
		}
		out = vr + (vr == vm || round_up);
	}
	exp10 += removed;
	/* Rounding up (...9 -> ...10) or an exact power of ten can leave
	 * trailing zeros; drop them into the exponent. */
	while (out % 10 == 0) {
		out /= 10;
		exp10++;
	}
	*digits = out;
	*e10 = exp10;
}

static const char digit_pairs[201] = "00010203040506070809"
				     "10111213141516171819"
				     "20212223242526272829"
				     "30313233343536373839"
				     "40414243444546474849"
				     "50515253545556575859"
				     "60616263646566676869"
				     "70717273747576777879"
				     "80818283848586878889"
				     "90919293949596979899";

static const uint64_t pow10_tab[20] = {1ull,
				       10ull,
				       100ull,
				       1000ull,
				       10000ull,
				       100000ull,
				       1000000ull,
				       10000000ull,
				       100000000ull,
				       1000000000ull,
				       10000000000ull,
				       100000000000ull,
				       1000000000000ull,
				       10000000000000ull,
				       100000000000000ull,
				       1000000000000000ull,
				       10000000000000000ull,
				       100000000000000000ull,
				       1000000000000000000ull,
				       10000000000000000000ull};

/* Number of decimal digits of v: from its bit length (1233/4096 is just
 * above log10(2)), then one comparison. */
static size_t dec_len(uint64_t v)
{
	unsigned t = ((64u - (unsigned)__builtin_clzll(v | 1)) * 1233u) >> 12;
	return t - ((v | 1) < pow10_tab[t]) + 1;
}

/* Writes the n digits of v < 10^8 ending at end, zero-padded to n. */
static void put_digits32(char *end, uint32_t v, size_t n)
{
	char *p = end;
	char *stop = end - n;
	while (p - stop >= 2) {
		uint32_t r = v % 100;
		v /= 100;
		p -= 2;
		p[0] = digit_pairs[2 * r];
		p[1] = digit_pairs[2 * r + 1];
	}
	if (p > stop)
		p[-1] = (char)('0' + v % 10);
}

/* Writes the n = dec_len(v) digits of v at dst, no NUL: eight at a time
 * in 32-bit arithmetic, which keeps the division chains short. */
static void put_digits(char *dst, uint64_t v, size_t n)
{
	char *end = dst + n;
	while (n > 8) {
		put_digits32(end, (uint32_t)(v % 100000000), 8);
		v /= 100000000;
		end -= 8;
		n -= 8;
	}
	put_digits32(end, (uint32_t)v, n);
}

/* v in decimal at dst (VT__NUM_MAX bytes) with a NUL; returns length. */
size_t vt__num_u64(char *dst, uint64_t v)
{
	size_t n = dec_len(v);
	put_digits(dst, v, n);
	dst[n] = '\0';
	return n;
}

/* Writes |v| (finite, non-zero) at p, plain (123, 12.3, 0.0123) when
 * lo <= exponent < hi, else as d.ddde+XX with at least exp_digits
 * exponent digits; returns the length. */
static size_t lay(char *p, double v, int lo, int hi, int exp_digits)
{
	uint64_t d;
	int e10;
	vt__num_shortest(v, &d, &e10);
	size_t nd = dec_len(d);
	int point = (int)nd + e10; /* |v| = 0.DIGITS * 10^point */
	int x = point - 1;	   /* |v| = D.IGITS * 10^x */
	char *s = p;
	if (x < lo || x >= hi) {
		put_digits(p + 1, d, nd); /* then move the first one left */
		p[0] = p[1];
		p[1] = '.';
		p += nd > 1 ? nd + 1 : 1;
		*p++ = 'e';
		*p++ = x < 0 ? '-' : '+';
		unsigned ax = (unsigned)(x < 0 ? -x : x);
		size_t ne = dec_len(ax);
		for (size_t i = ne; i < (size_t)exp_digits; i++)
			*p++ = '0';
		put_digits(p, ax, ne);
		p += ne;
	} else if (point <= 0) {
		*p++ = '0';
		*p++ = '.';
		for (int i = point; i < 0; i++)
			*p++ = '0';
		put_digits(p, d, nd);
		p += nd;
	} else if ((size_t)point >= nd) {
		put_digits(p, d, nd);
		p += nd;
		for (size_t i = nd; i < (size_t)point; i++)
			*p++ = '0';
	} else {
		put_digits(p, d, nd);
		for (size_t i = nd; i > (size_t)point; i--)
			p[i] = p[i - 1];
		p[point] = '.';
		p += nd + 1;
	}
	return (size_t)(p - s);
}

/* v as Go's FormatFloat(v, 'g', -1, 64) at dst (VT__NUM_MAX bytes) with a
 * NUL; returns length. */
size_t vt__num_prom(char *dst, double v)
{
	if (isnan(v)) {
		memcpy(dst, "NaN", 4);
		return 3;
	}
	if (isinf(v)) {
		memcpy(dst, v > 0 ? "+Inf" : "-Inf", 5);
		return 4;
	}
	if (v == 0) {
		memcpy(dst, "0", 2);
		return 1;
	}
	size_t n = 0;
	if (v < 0)
		dst[n++] = '-';
	/* Go's %g for shortest output: %e when the exponent < -4 or >= 6,
	 * with at least two exponent digits. */
	n += lay(dst + n, v, -4, 6, 2);
	dst[n] = '\0';
	return n;
}

/* v as JavaScript prints it, non-finite as null, at dst (VT__NUM_MAX
 * bytes) with a NUL; returns length. */
size_t vt__num_json(char *dst, double v)
{
	if (!isfinite(v)) {
		memcpy(dst, "null", 5);
		return 4;
	}
	if (v == 0) {
		memcpy(dst, "0", 2);
		return 1;
	}
	size_t n = 0;
	if (v < 0)
		dst[n++] = '-';
	/* ECMAScript Number::toString: plain for 1e-7 <= |v| < 1e21. */
	n += lay(dst + n, v, -6, 21, 1);
	dst[n] = '\0';
	return n;
}

size_t vt__utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned lo = 0x80, hi = 0xbf; /* range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* <= U+10FFFF */
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Starts w writing to b. */
void vt__tw_init(vt__tw *w, vt_buf *b)
{
	w->buf = b;
	w->n = 0;
}

/* Moves the chunk to the buffer; errors stick in the buffer. */
void vt__tw_flush(vt__tw *w)
{
	vt__buf_append(w->buf, w->chunk, w->n);
	w->n = 0;
}

/* Appends v as vt__num_prom writes it. */
void vt__tw_num_prom(vt__tw *w, double v)
{
	char *p = vt__tw_room(w, VT__NUM_MAX);
	w->n += vt__num_prom(p, v);
}

/* Appends v as vt__num_json writes it. */
void vt__tw_num_json(vt__tw *w, double v)
{
	char *p = vt__tw_room(w, VT__NUM_MAX);
	w->n += vt__num_json(p, v);
}

/* Appends v in decimal. */
void vt__tw_u64(vt__tw *w, uint64_t v)
{
	char *p = vt__tw_room(w, VT__NUM_MAX);
	w->n += vt__num_u64(p, v);
}

/* The replacement of the ASCII byte c in mode, or NULL to keep it. tmp
 * holds a \u00XX escape. */
static const char *esc_ascii(unsigned c, vt__esc_mode mode, char tmp[8])
{
	static const char hex[] = "0123456789abcdef";
	switch (mode) {
	case VT__ESC_PROM_LABEL:
		return c == '\\'   ? "\\\\"
		       : c == '"'  ? "\\\""
		       : c == '\n' ? "\\n"
				   : NULL;
	case VT__ESC_PROM_HELP:
		return c == '\\' ? "\\\\" : c == '\n' ? "\\n" : NULL;
	case VT__ESC_JSON_PROM_LABEL:
		/* \ -> \\ -> \\\\, " -> \" -> \\\", newline -> \n -> \\n */
		if (c == '\\')
			return "\\\\\\\\";
		if (c == '"')
			return "\\\\\\\"";
		if (c == '\n')
			return "\\\\n";
		/* fall through - the rest as in plain JSON */
	case VT__ESC_JSON:
		if (c == '"')
			return "\\\"";
		if (c == '\\')
			return "\\\\";
		if (c >= 0x20)
			return NULL;
		switch (c) {
		case '\b':
			return "\\b";
		case '\f':
			return "\\f";
		case '\n':
			return "\\n";
		case '\r':
			return "\\r";
		case '\t':
			return "\\t";
		}
		memcpy(tmp, "\\u00", 4);
		tmp[4] = hex[c >> 4];
		tmp[5] = hex[c & 15];
		tmp[6] = '\0';
		return tmp;
	}
	return NULL;
}

/* Appends s escaped by mode, invalid UTF-8 as U+FFFD; runs of bytes that
 * need nothing go in one copy. */
void vt__tw_escape(vt__tw *w, const char *s, vt__esc_mode mode)
{
	bool json = mode == VT__ESC_JSON || mode == VT__ESC_JSON_PROM_LABEL;
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + strlen(s);
	const unsigned char *run = p; /* bytes kept as they are */
	char tmp[8];
	while (p < end) {
		unsigned c = *p;
		const char *rep = NULL;
		size_t n = 1;
		if (c >= 0x80) {
			n = vt__utf8_seq(p, end);
			if (n == 0) {
				rep = "\xef\xbf\xbd"; /* U+FFFD */
				n = 1;
			}
		} else if (c == '\\' || c == '"' || c == '\n' ||
			   (json && c < 0x20)) {
			rep = esc_ascii(c, mode, tmp);
		}
		if (rep == NULL) {
			p += n;
			continue;
		}
		vt__tw_put(w, (const char *)run, (size_t)(p - run));
		vt__tw_puts(w, rep);
		p += n;
		run = p;
	}
	vt__tw_put(w, (const char *)run, (size_t)(p - run));
}
