/*
 * dataplane/net_dpdk/csum.c: the Internet checksum (RFC 1071) in software, for devices without
 * checksum offload and for verifying what arrives.  Sums are kept unfolded in 32 bits between
 * calls; every call but the last must cover an even number of bytes (the stack only splits at
 * header boundaries and at payload pieces, which it sums as one run through dp_csum_add_iov).
 */
#include <string.h>

#include "dataplane/net_dpdk/stack_int.h"

/* 32-bit words into four 64-bit accumulators: no carry to propagate until 2^32 words, four
 * independent chains for the CPU, and the same ones' complement sum as 16-bit words once folded
 * (2^16 is 1 modulo 2^16-1). */
uint32_t dp_csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t a0 = sum, a1 = 0, a2 = 0, a3 = 0;
	while (len >= 16) {
		uint32_t w[4];
		memcpy(w, b, 16);
		a0 += w[0];
		a1 += w[1];
		a2 += w[2];
		a3 += w[3];
		b += 16;
		len -= 16;
	}
	while (len >= 4) {
		uint32_t w;
		memcpy(&w, b, 4);
		a0 += w;
		b += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, b, 2);
		a1 += w;
		b += 2;
		len -= 2;
	}
	if (len)
		a2 += *b; /* little-endian host: the odd byte is the high half of a big-endian word */
	uint64_t s = a0 + a1 + a2 + a3; /* each below 2^62: no overflow */
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t dp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t dp_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	uint8_t ph[12];
	ph[0] = src >> 24; ph[1] = src >> 16; ph[2] = src >> 8; ph[3] = src;
	ph[4] = dst >> 24; ph[5] = dst >> 16; ph[6] = dst >> 8; ph[7] = dst;
	ph[8] = 0; ph[9] = proto; ph[10] = len >> 8; ph[11] = len;
	return dp_csum_add(0, ph, sizeof ph);
}

uint32_t dp_csum_add_iov(uint32_t sum, const struct iovec *iov, int iovcnt)
{
	bool odd = false;
	for (int i = 0; i < iovcnt; i++) {
		uint32_t s = dp_csum_add(0, iov[i].iov_base, iov[i].iov_len);
		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		/* a run that starts at an odd offset contributes its sum byte-swapped (RFC 1071) */
		if (odd)
			s = __builtin_bswap16((uint16_t)s);
		sum += s;
		if (sum < s)
			sum++;
		odd ^= iov[i].iov_len & 1;
	}
	return sum;
}
