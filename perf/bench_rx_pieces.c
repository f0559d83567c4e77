/*
 * perf/bench_rx_pieces.c: does taking a received Produce batch from its mbufs pay, against
 * copying it into one buffer first?  The two ways of dataplane/ for a batch that arrived over
 * several segments (dataplane/net_dpdk/README.md, "Receive without a copy over several
 * segments"):
 *   copy      the pieces are copied into a frame buffer (as recv_into does), the batch is
 *             validated there (kp_records_validate) and written with one pwrite;
 *   in place  the batch is validated over the pieces (kp_records_validate_iov) and written with
 *             one pwritev of them (its header piece first, as storage gets it).
 * The pieces are 1,448 bytes (a 1,500-byte MTU's TCP payload), each in a 2 KiB slot of a pool
 * the runs walk through, as mbufs would be: 32 MiB by default (the pieces come from memory, as
 * after a NIC's DMA without DDIO), or a small one (256 KiB: in cache, as after a software
 * device's copy into the mbuf, which af_packet and tap do).  The file is a fresh one
 * in the page cache (the write's own kernel copy is in both ways), rewritten from its start.
 * Batches of 4, 16, 64 and 256 KiB of records of 100-1,000 bytes.  Printed per size, in GB/s of batch
 * bytes (thread CPU time, user and system: the write's kernel time counts), best of the
 * repetitions: validation alone both ways, validation + write both ways, and memcpy of the same
 * pieces into the frame buffer (the copy that in place saves; the limit it is measured beside).
 * The piece size is the fifth argument: 8948 is a 9,000-byte MTU's segment (slots of 9 KiB).
 * Usage: bench_rx_pieces [repetitions] [MiB per repetition] [file directory] [pool KiB] [piece]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/arena.h"
#include "proto/batch.h"


static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint8_t *make_batch(size_t want, size_t *size)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	char v[1000];
	size_t got = 0;
	for (int i = 0; got < want - 1100; i++) {
		int vl = 100 + (i * 379) % 900;
		for (int k = 0; k < vl; k++)
			v[k] = (char)('a' + (i + k) % 26);
		char key[16];
		int kl = snprintf(key, sizeof key, "key-%d", i);
		kp_batch_builder_add(&b, 1700000000000 + i, key, kl, v, vl, NULL, 0);
		got += (size_t)vl + 20;
	}
	const uint8_t *p = kp_batch_builder_finish(&b, size);
	uint8_t *cp = malloc(*size);
	memcpy(cp, p, *size);
	kp_batch_builder_fini(&b);
	return cp;
}

enum { VALIDATE_COPY, VALIDATE_PIECES, WRITE_COPY, WRITE_PIECES, MEMCPY, NMODES };
static const char *mode_name[NMODES] = {"copy + validate", "validate over pieces", "copy + validate + pwrite",
                                        "validate over pieces + pwritev", "memcpy of the pieces (limit)"};

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 5;
	size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 64;
	const char *dir = argc > 3 ? argv[3] : "/tmp";
	size_t POOL = (argc > 4 ? (size_t)atoi(argv[4]) : 32768) << 10;
	size_t PIECE = argc > 5 ? (size_t)atoi(argv[5]) : 1448;
	size_t SLOT = (PIECE + 1023) & ~(size_t)1023;
	if (PIECE < 64 || PIECE > 65536) {
		fprintf(stderr, "bench_rx_pieces: a piece of 64..65536 bytes\n");
		return 1;
	}
	char path[512];
	snprintf(path, sizeof path, "%s/bench_rx_pieces.XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	unlink(path);
	uint8_t *pool = aligned_alloc(4096, POOL);
	memset(pool, 0, POOL);
	size_t nslots = POOL / SLOT;
	struct rt_arena scratch;
	rt_arena_init(&scratch, 0, 0);
	struct kp_validate_opts o = {.max_batch_bytes = 1 << 20, .check_records = true};
	static const size_t sizes[] = {4096, 16384, 65536, 262144};
	printf("{\"bench\": \"rx_pieces\", \"piece_bytes\": %zu, \"mib_per_rep\": %zu, \"reps\": %d, \"pool_kib\": %zu}\n",
	       PIECE, mib, reps, POOL >> 10);
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		size_t size;
		uint8_t *b = make_batch(sizes[si], &size);
		int np = (int)((size + PIECE - 1) / PIECE);
		/* every slot of the pool holds the next piece of some copy of the batch */
		for (size_t s = 0; s < nslots; s++) {
			int k = (int)(s % (size_t)np);
			size_t n = (size_t)k == (size_t)np - 1 ? size - (size_t)k * PIECE : PIECE;
			memcpy(pool + s * SLOT, b + (size_t)k * PIECE, n);
		}
		size_t copies = nslots / (size_t)np;
		if (!copies) {
			fprintf(stderr, "bench_rx_pieces: the pool holds no whole batch of %zu bytes\n", size);
			return 1;
		}
		uint8_t *frame = malloc(size);
		uint8_t hdr[KP_BATCH_HEADER_SIZE];
		struct iovec v[256], w[257];
		size_t per_rep = (mib << 20) / size;
		double best[NMODES] = {0};
		for (int m = 0; m < NMODES; m++)
			for (int r = 0; r < reps + 1; r++) { /* the first is the warm-up */
				uint64_t t0 = now_ns();
				for (size_t i = 0; i < per_rep; i++) {
					uint8_t *base = pool + (i % copies) * (size_t)np * SLOT;
					for (int k = 0; k < np; k++)
						v[k] = (struct iovec){base + (size_t)k * SLOT, k == np - 1 ? size - (size_t)k * PIECE : PIECE};
					int rc = 0;
					if (m == VALIDATE_PIECES || m == WRITE_PIECES) {
						rc = kp_records_validate_iov(v, np, &o, &scratch, NULL, NULL);
						if (m == WRITE_PIECES) {
							/* storage's shape: the header in a piece of its own, then the rest */
							memcpy(hdr, v[0].iov_base, sizeof hdr);
							w[0] = (struct iovec){hdr, sizeof hdr};
							w[1] = (struct iovec){(uint8_t *)v[0].iov_base + sizeof hdr, v[0].iov_len - sizeof hdr};
							memcpy(w + 2, v + 1, sizeof v[0] * (size_t)(np - 1));
							if (pwritev(fd, w, np + 1, 0) != (ssize_t)size)
								rc = -EIO;
						}
					} else {
						for (int k = 0; k < np; k++)
							memcpy(frame + (size_t)k * PIECE, v[k].iov_base, v[k].iov_len);
						if (m != MEMCPY)
							rc = kp_records_validate(frame, size, &o, &scratch, NULL, NULL);
						if (m == WRITE_COPY && pwrite(fd, frame, size, 0) != (ssize_t)size)
							rc = -EIO;
					}
					rt_arena_reset(&scratch);
					if (rc) {
						fprintf(stderr, "bench_rx_pieces: %s failed: %d\n", mode_name[m], rc);
						return 1;
					}
				}
				double gbs = (double)(per_rep * size) / (double)(now_ns() - t0);
				if (r && gbs > best[m])
					best[m] = gbs;
			}
		printf("{\"batch_bytes\": %zu, \"pieces\": %d", size, np);
		for (int m = 0; m < NMODES; m++)
			printf(", \"%s GB/s\": %.2f", mode_name[m], best[m]);
		printf(", \"in place / copy, validate\": %.2f, \"in place / copy, validate + write\": %.2f}\n",
		       best[VALIDATE_PIECES] / best[VALIDATE_COPY], best[WRITE_PIECES] / best[WRITE_COPY]);
		free(frame);
		free(b);
	}
	rt_arena_fini(&scratch);
	free(pool);
	close(fd);
	return 0;
}
