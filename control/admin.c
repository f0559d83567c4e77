/*
 * control/admin.c: DescribeGroups, ListGroups and DeleteGroups over the coordinator's groups,
 * with the answers Kafka gives (an unknown group is described as Dead with no members).
 * DeleteGroups takes an Empty group even while transactions hold offsets for it (Kafka does):
 * their pending offsets go with it.
 */
#include "control/coord_int.h"

#include <strings.h>
#include <string.h>

int ctl_group_describe(struct ctl_coord *c, struct ctl_slice group_id, struct ctl_described_group *d,
                       void *(*alloc)(void *arg, size_t n), void *alloc_arg)
{
	memset(d, 0, sizeof(*d));
	d->state = "";
	d->protocol_type = "";
	d->protocol = "";
	if (c->loading) {
		d->error = CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS;
		return 0;
	}
	if (group_id.len < 0) {
		d->error = CTL_ERR_INVALID_GROUP_ID;
		return 0;
	}
	struct ctl_group *g = ctl_grp_get(c, group_id);
	if (!g) {
		d->state = ctl_group_state_name(CTL_GROUP_DEAD);
		return 0;
	}
	bool stable = g->state == CTL_GROUP_STABLE;
	d->state = ctl_group_state_name(g->state);
	d->protocol_type = g->protocol_type ? g->protocol_type : "";
	d->protocol = stable && g->protocol ? g->protocol : "";
	if (!g->n_members)
		return 0;
	d->members = alloc(alloc_arg, (size_t)g->n_members * sizeof(*d->members));
	if (!d->members)
		return -ENOMEM;
	int32_t i = 0;
	for (struct ctl_member *m = g->head; m; m = m->next, i++) {
		struct ctl_described_member *x = &d->members[i];
		x->member_id = m->id;
		x->instance_id = m->instance_id;
		x->client_id = m->client_id;
		x->client_host = m->client_host;
		x->metadata = (struct ctl_slice){ "", 0 };
		x->assignment = (struct ctl_slice){ "", 0 };
		if (stable) {
			for (int32_t k = 0; k < m->n_protocols; k++)
				if (!strcmp(m->protocols[k].name, g->protocol))
					x->metadata = (struct ctl_slice){ (const char *)m->protocols[k].meta, m->protocols[k].meta_len };
			x->assignment = (struct ctl_slice){ (const char *)m->assignment, m->assignment_len };
		}
	}
	d->n_members = i;
	return 0;
}

int16_t ctl_group_list(struct ctl_coord *c, const struct ctl_slice *states, int32_t n_states,
                       void (*fn)(void *arg, const char *group_id, const char *protocol_type, const char *state),
                       void *arg)
{
	if (c->loading)
		return CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	struct ctl_map_iter it;
	struct ctl_group *g;
	ctl_map_iter_init(&it, &c->groups);
	while ((g = ctl_map_next(&it))) {
		const char *st = ctl_group_state_name(g->state);
		bool match = n_states == 0;
		for (int32_t i = 0; i < n_states && !match; i++)
			match = states[i].len >= 0 && strlen(st) == (size_t)states[i].len &&
			        !strncasecmp(st, states[i].p, (size_t)states[i].len);
		if (match)
			fn(arg, g->id, g->protocol_type ? g->protocol_type : "", st);
	}
	return CTL_ERR_NONE;
}

int16_t ctl_group_delete(struct ctl_coord *c, struct ctl_slice group_id)
{
	if (c->loading)
		return CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	if (group_id.len < 0)
		return CTL_ERR_INVALID_GROUP_ID;
	struct ctl_group *g = ctl_grp_get(c, group_id);
	if (!g || g->state == CTL_GROUP_DEAD)
		return CTL_ERR_GROUP_ID_NOT_FOUND;
	if (g->state != CTL_GROUP_EMPTY || g->n_pending)
		return CTL_ERR_NON_EMPTY_GROUP;
	struct ctl_append *a = ctl_append_new(c, g, CTL_APPEND_PLAIN);
	struct ctl_map_iter it;
	struct ctl_offset *o;
	ctl_map_iter_init(&it, &g->offsets);
	while ((o = ctl_map_next(&it)))
		ctl_append_offset_tombstone(a, g->id, o->topic, o->partition);
	/* Kafka's deleteAllOffsets: the partitions that only open transactions hold offsets for get
	 * a tombstone too.  It follows their transactional records in the log, so a reload drops
	 * them as this deletion does and a later COMMIT marker brings nothing back. */
	for (const struct ctl_pending_offset *e = g->pend; e; e = e->next) {
		struct ctl_slice t = ctl_slice_str(e->topic);
		bool done = e->pid < 0 || ctl_offsets_find(g, t, e->partition);
		for (const struct ctl_pending_offset *f = g->pend; f != e && !done; f = f->next)
			done = f->pid >= 0 && f->partition == e->partition && !strcmp(f->topic, e->topic);
		if (!done)
			ctl_append_offset_tombstone(a, g->id, e->topic, e->partition);
	}
	ctl_append_group_tombstone(a, g->id);
	ctl_grp_set_state(c, g, CTL_GROUP_DEAD);
	ctl_grp_remove(c, g);
	ctl_append_submit(c, a);
	return CTL_ERR_NONE;
}
