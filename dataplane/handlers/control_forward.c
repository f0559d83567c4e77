/*
 * dataplane/handlers/control_forward.c: the place where coordinator APIs (groups, committed
 * offsets, producer ids, transactions) leave the dataplane for the control process over its
 * Unix socket.  The control process is not wired in yet, so nothing is advertised for these
 * APIs and a request for one closes the connection, as a broker that does not know an API does.
 */
#include "handlers.h"

bool dp_control_serves(int16_t api_key)
{
	(void)api_key;
	return false;
}

void dp_control_forward(struct dp_req *req, void *msg)
{
	(void)msg;
	RT_INFO("%s: api %d needs the control process, which is not running; closing the connection",
	        req->conn->peer, req->api_key);
	req->close_after = true;
	dp_req_finish(req);
}
