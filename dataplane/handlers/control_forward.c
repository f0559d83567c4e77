/*
 * dataplane/handlers/control_forward.c: the place where coordinator APIs (groups, committed
 * offsets, producer ids, transactions) leave the dataplane for the control process; the link
 * itself is dataplane/control_link.c.  APIs the control process does not serve yet close the
 * connection, as a broker that does not know an API does.
 */
#include "handlers.h"
#include "../control_link.h"

bool dp_control_serves(int16_t api_key)
{
	return dp_control_link_serves(api_key);
}

void dp_control_forward(struct dp_req *req, void *msg)
{
	if (!dp_control_link_serves(req->api_key)) {
		RT_INFO("%s: api %d is not served; closing the connection", req->conn->peer, req->api_key);
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	dp_control_link_forward(req, msg);
}
