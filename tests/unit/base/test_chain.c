/* Unit tests for base/chain.c: segment order, borrowed memory, file ranges and errors. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/chain.h"

/* A temporary file holding "0123456789abcdefghij" (unlinked; the fd keeps it). */
static int temp_fd(void)
{
	char path[] = "/tmp/rt_chain_XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, "0123456789abcdefghij", 20), 20);
	return fd;
}

Test(rt_chain, buffer_memory_and_file_in_order)
{
	int fd = temp_fd();
	struct rt_chain c;
	rt_chain_init(&c, 0);
	rt_buf_put(rt_chain_buf(&c), "HEAD", 4);
	cr_expect_eq(rt_chain_add_mem(&c, "mem!", 4), 0);
	rt_buf_put(rt_chain_buf(&c), "[", 1);
	cr_expect_eq(rt_chain_add_file(&c, fd, 10, 6), 0); /* "abcdef" */
	rt_buf_put(rt_chain_buf(&c), "]", 1);
	cr_expect_eq(rt_chain_add_file(&c, fd, 0, 3), 0);  /* "012": two files ranges back to back */
	rt_buf_put(rt_chain_buf(&c), "TAIL", 4);
	cr_expect_eq(rt_chain_len(&c), 4u + 4 + 1 + 6 + 1 + 3 + 4);

	/* Flatten works before finish too: open buffer bytes come last. */
	uint8_t out[64];
	memset(out, 0, sizeof(out));
	cr_assert_eq(rt_chain_flatten(&c, out), 0);
	cr_expect_eq(memcmp(out, "HEADmem![abcdef]012TAIL", 23), 0, "%.23s", out);

	cr_assert_eq(rt_chain_finish(&c), 0);
	cr_assert_eq(c.nsegs, 7u);
	enum rt_seg_kind kinds[] = {RT_SEG_BUF, RT_SEG_MEM, RT_SEG_BUF, RT_SEG_FILE, RT_SEG_BUF, RT_SEG_FILE, RT_SEG_BUF};
	for (size_t i = 0; i < 7; i++)
		cr_expect_eq(c.segs[i].kind, kinds[i], "segment %zu", i);
	cr_expect_eq(c.segs[3].fd, fd);
	cr_expect_eq(c.segs[3].off, 10u);
	cr_expect_eq(c.segs[3].len, 6u);
	cr_expect_eq(memcmp(rt_chain_seg_ptr(&c, &c.segs[2]), "[", 1), 0);
	cr_expect_eq(c.total, 23u);
	memset(out, 0, sizeof(out));
	cr_assert_eq(rt_chain_flatten(&c, out), 0);
	cr_expect_eq(memcmp(out, "HEADmem![abcdef]012TAIL", 23), 0);

	rt_chain_reset(&c);
	cr_expect_eq(rt_chain_len(&c), 0u);
	cr_expect_eq(c.nsegs, 0u);
	rt_chain_fini(&c);
	close(fd);
}

Test(rt_chain, memory_is_borrowed_not_copied)
{
	char data[8] = "aaaa";
	struct rt_chain c;
	rt_chain_init(&c, 0);
	rt_chain_add_mem(&c, data, 4);
	rt_chain_finish(&c);
	cr_expect_eq(c.segs[0].ptr, (const void *)data);
	memcpy(data, "bbbb", 4); /* the chain sees the owner's memory as it is at send time */
	uint8_t out[4];
	cr_assert_eq(rt_chain_flatten(&c, out), 0);
	cr_expect_eq(memcmp(out, "bbbb", 4), 0);
	rt_chain_fini(&c);
}

Test(rt_chain, empty_pieces_add_no_segments)
{
	struct rt_chain c;
	rt_chain_init(&c, 0);
	cr_expect_eq(rt_chain_add_mem(&c, "x", 0), 0);
	cr_expect_eq(rt_chain_add_file(&c, 0, 0, 0), 0);
	cr_expect_eq(rt_chain_finish(&c), 0);
	cr_expect_eq(c.nsegs, 0u);
	cr_expect_eq(rt_chain_len(&c), 0u);
	uint8_t out[1];
	cr_expect_eq(rt_chain_flatten(&c, out), 0);
	/* Memory only, the chain's own buffer never written. */
	rt_chain_add_mem(&c, "abc", 3);
	uint8_t o3[3];
	cr_expect_eq(rt_chain_flatten(&c, o3), 0);
	cr_expect_eq(memcmp(o3, "abc", 3), 0);
	rt_chain_fini(&c);
}

Test(rt_chain, many_segments)
{
	struct rt_chain c;
	rt_chain_init(&c, 0);
	static const char digits[] = "0123456789";
	for (int i = 0; i < 1000; i++) {
		rt_buf_put_u8(rt_chain_buf(&c), (uint8_t)'a' + (uint8_t)(i % 26));
		rt_chain_add_mem(&c, digits + i % 10, 1);
	}
	cr_assert_eq(rt_chain_finish(&c), 0);
	cr_expect_eq(c.nsegs, 2000u);
	uint8_t *out = malloc(rt_chain_len(&c));
	cr_assert_eq(rt_chain_flatten(&c, out), 0);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(out[2 * i], 'a' + i % 26);
		cr_assert_eq(out[2 * i + 1], '0' + i % 10);
	}
	free(out);
	rt_chain_fini(&c);
}

Test(rt_chain, short_file_is_an_error)
{
	int fd = temp_fd();
	struct rt_chain c;
	rt_chain_init(&c, 0);
	rt_chain_add_file(&c, fd, 15, 10); /* only 5 bytes exist from 15 */
	rt_chain_finish(&c);
	uint8_t out[16];
	cr_expect_eq(rt_chain_flatten(&c, out), -EIO);
	rt_chain_reset(&c);
	rt_chain_add_file(&c, -1, 0, 4);
	cr_expect_eq(rt_chain_flatten(&c, out), -EBADF);
	rt_chain_fini(&c);
	close(fd);
}

Test(rt_chain, buffer_limit_is_sticky)
{
	struct rt_chain c;
	rt_chain_init(&c, 8);
	rt_buf_put(rt_chain_buf(&c), "0123456789", 10);
	uint8_t out[32];
	/* The failed write is reported even before the buffer is closed into a segment. */
	cr_expect_eq(rt_chain_flatten(&c, out), -E2BIG);
	cr_expect_eq(rt_chain_add_mem(&c, "x", 1), -E2BIG);
	cr_expect_eq(rt_chain_add_file(&c, 0, 0, 1), -E2BIG);
	cr_expect_eq(rt_chain_finish(&c), -E2BIG);
	cr_expect_eq(c.err, -E2BIG);
	rt_chain_reset(&c);
	cr_expect_eq(c.err, 0);
	rt_buf_put(rt_chain_buf(&c), "01234567", 8);
	cr_expect_eq(rt_chain_finish(&c), 0);
	cr_expect_eq(rt_chain_flatten(&c, out), 0);
	cr_expect_eq(memcmp(out, "01234567", 8), 0);
	rt_chain_fini(&c);
}
