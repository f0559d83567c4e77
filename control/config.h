/*
 * control/config.h: the broker keys that `ringtail-control` reads (group coordinator, offsets,
 * transactions), as one base/config table.  Both programs use it: ringtail-control reads its
 * values, and `ringtail` appends it to its own table so that it neither warns about these keys
 * as unknown nor starts with a value the control process would refuse.  Pure data: this file
 * links into the dataplane without the rest of control/.
 */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <stddef.h>

#include "base/config.h"

extern const struct rt_cfg_def ctl_cfg_defs[];
extern const size_t ctl_cfg_ndefs;

#endif
