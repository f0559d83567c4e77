/* Unit tests for storage/dir.c: the lock file, Kafka's checkpoint text format, listing
 * partitions, the clean-shutdown marker, and deleting a partition. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static struct tctx t;
static void setup(void) { t_setup(&t, NULL); }
static void teardown(void) { t_teardown(&t); }
TestSuite(stor_dir, .init = setup, .fini = teardown);

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) return NULL;
	char *buf = calloc(1, 4096);
	size_t n = fread(buf, 1, 4095, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

Test(stor_dir, a_second_process_cannot_open_a_locked_dir)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int err = 0;
		struct stor_dir *d = stor_dir_open(t.dir, &err);
		_exit(d == NULL && err == -EWOULDBLOCK ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child got the lock");
}

Test(stor_dir, checkpoints_are_kafkas_text_format)
{
	int err;
	struct stor_log *a = stor_log_open(t.d, "alpha", 0, &t.cfg, NULL, &t.ring, &err);
	struct stor_log *b = stor_log_open(t.d, "beta.x", 2, &t.cfg, NULL, &t.ring, &err);
	cr_assert(a && b);
	t_fill(&t, a, 3, 2, 10);
	int64_t lw;
	cr_assert_eq(stor_log_delete_records(a, 4, &lw), 0);
	cr_assert_eq(t_close(&t, a), 0);
	cr_assert_eq(stor_dir_checkpoint(t.d), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/recovery-point-offset-checkpoint", t.dir);
	char *rp = slurp(p);
	cr_assert_not_null(rp);
	cr_expect(!strncmp(rp, "0\n2\n", 4), "header: %s", rp);
	cr_expect(strstr(rp, "\nalpha 0 6\n"), "%s", rp);
	cr_expect(strstr(rp, "\nbeta.x 2 0\n"), "%s", rp);
	snprintf(p, sizeof p, "%s/log-start-offset-checkpoint", t.dir);
	char *ls = slurp(p);
	cr_expect(strstr(ls, "\nalpha 0 4\n"), "%s", ls);
	free(rp);
	free(ls);
	cr_assert_eq(t_close(&t, b), 0);
}

/* Every checkpoint is written to a temporary file, synced and renamed over the old one: the old
 * file is never written in place (a reader holding it sees the old whole text), and no temporary
 * file is left behind. */
Test(stor_dir, checkpoints_replace_the_old_file_by_rename)
{
	const char *files[] = { "recovery-point-offset-checkpoint", "log-start-offset-checkpoint" };
	struct stor_log *a = t_open(&t, "ren");
	t_fill(&t, a, 2, 2, 10);
	cr_assert_eq(stor_dir_checkpoint(t.d), 0);
	char p[512];
	struct stat before[2];
	FILE *old[2];
	char *old_text[2];
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof p, "%s/%s", t.dir, files[i]);
		cr_assert_eq(stat(p, &before[i]), 0);
		old_text[i] = slurp(p);
		old[i] = fopen(p, "r");
		cr_assert(old_text[i] && old[i]);
	}
	t_fill(&t, a, 2, 2, 10);
	int64_t lw;
	cr_assert_eq(stor_log_delete_records(a, 3, &lw), 0);
	cr_assert_eq(t_close(&t, a), 0);
	cr_assert_eq(stor_dir_checkpoint(t.d), 0);
	for (int i = 0; i < 2; i++) {
		struct stat now;
		snprintf(p, sizeof p, "%s/%s", t.dir, files[i]);
		cr_assert_eq(stat(p, &now), 0);
		cr_expect_neq(now.st_ino, before[i].st_ino, "%s was rewritten in place", files[i]);
		char buf[4096] = { 0 };
		size_t n = fread(buf, 1, sizeof buf - 1, old[i]);
		cr_expect_eq(n, strlen(old_text[i]), "%s: the old file is whole", files[i]);
		cr_expect_str_eq(buf, old_text[i]);
		char *cur = slurp(p);
		cr_expect_str_neq(cur, old_text[i], "%s: the new text differs", files[i]);
		free(cur);
		fclose(old[i]);
		free(old_text[i]);
		snprintf(p, sizeof p, "%s/%s.tmp", t.dir, files[i]);
		cr_expect_eq(t_file_size(p), -1, "%s.tmp is left behind", files[i]);
	}
}

static int listed;
static void on_list(void *arg, const char *topic, int32_t partition)
{
	(void)arg;
	if ((!strcmp(topic, "my-topic") && partition == 12) || (!strcmp(topic, "x") && partition == 0)) listed++;
	else listed += 100;
}

Test(stor_dir, lists_partitions_and_deletes_them)
{
	int err;
	struct stor_log *a = stor_log_open(t.d, "my-topic", 12, &t.cfg, NULL, &t.ring, &err);
	struct stor_log *b = stor_log_open(t.d, "x", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert(a && b);
	t_fill(&t, b, 2, 2, 10);
	t_run_idle(&t.ring, b);
	cr_assert_eq(stor_log_delete(b), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/x-0", t.dir);
	cr_expect_eq(t_file_size(p), -1, "directory removed");
	listed = 0;
	cr_assert_eq(stor_dir_list(t.d, on_list, NULL), 0);
	cr_expect_eq(listed, 1);
	cr_assert_eq(t_close(&t, a), 0);
}

Test(stor_dir, topic_id_goes_to_partition_metadata)
{
	uint8_t id[16];
	for (int i = 0; i < 16; i++) id[i] = (uint8_t)(i * 17);
	int err;
	struct stor_log *a = stor_log_open(t.d, "tid", 0, &t.cfg, id, &t.ring, &err);
	cr_assert_not_null(a);
	cr_assert_eq(t_close(&t, a), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/tid-0/partition.metadata", t.dir);
	char *m = slurp(p);
	cr_assert_not_null(m);
	cr_expect(!strncmp(m, "version: 0\ntopic_id: ", 21), "%s", m);
	cr_expect_eq(strlen(m), 21 + 22 + 1, "22-character URL-safe base64 id: %s", m);
	free(m);
	id[0] ^= 1;
	cr_expect_null(stor_log_open(t.d, "tid", 0, &t.cfg, id, &t.ring, &err));
	cr_expect_eq(err, -EEXIST);
}

Test(stor_dir, rejects_bad_topic_names)
{
	int err;
	cr_expect_null(stor_log_open(t.d, "../evil", 0, &t.cfg, NULL, &t.ring, &err));
	cr_expect_eq(err, -EINVAL);
	cr_expect_null(stor_log_open(t.d, "", 0, &t.cfg, NULL, &t.ring, &err));
	cr_expect_null(stor_log_open(t.d, "ok", -1, &t.cfg, NULL, &t.ring, &err));
}

Test(stor_dir, clean_marker_written_only_after_clean_close)
{
	char p[512];
	snprintf(p, sizeof p, "%s/.kafka_cleanshutdown", t.dir);
	t_reopen_dir(&t, false);
	cr_expect_eq(t_file_size(p), -1, "removed while the dir is open");
	cr_assert_eq(stor_dir_close(t.d), 0);
	cr_expect_eq(t_file_size(p), 0, "written at a clean close");
	int err;
	t.d = stor_dir_open(t.dir, &err);
	cr_assert_not_null(t.d);
}

Test(stor_dir, a_partition_has_one_owner)
{
	int err;
	struct stor_log *a = stor_log_open(t.d, "one", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(a);
	cr_expect_null(stor_log_open(t.d, "one", 0, &t.cfg, NULL, &t.ring, &err));
	cr_expect_eq(err, -EBUSY);
	cr_assert_eq(t_close(&t, a), 0);
	a = stor_log_open(t.d, "one", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(a, "reopens once closed");
	t_close(&t, a);
}
