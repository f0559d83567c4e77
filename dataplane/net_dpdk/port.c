/*
 * dataplane/net_dpdk/port.c: the DPDK port driver (see port.h).
 *
 * Receive: a burst of mbufs; single-segment frames go to the stack as they lie in the mbuf,
 * with the device's checksum verdict when it gives one, and lendable: the application may keep
 * in-order payload in the mbuf (taking a reference, dp_port_frame_hold) instead of the stack
 * copying it into its receive ring.  Transmit: the stack's headers are copied into a fresh mbuf; payload
 * pieces of 256 bytes or more are attached as external-buffer mbufs chained behind it, so
 * record bytes (a send request's memory, or segment files mapped by the stack) are not copied
 * by the CPU; smaller pieces, and every piece on a device without multi-segment transmit, are
 * copied into the header mbuf.  The external buffers' IOVA is their virtual address: right as
 * it is for software devices, whose driver copies the frame with the CPU (net_tap,
 * net_af_packet: anything on the vdev bus; zc_policy.h decides from the device's bus, not its
 * driver's name).  A DMA-capable NIC in IOVA-as-VA mode gets each segment range the stack maps
 * registered and DMA-mapped (rte_extmem_register, rte_dev_dma_map; dma_reg.h keeps the ranges)
 * and sends in place only pieces inside them; other memory is copied, and in PA mode all.
 *
 * Flows to shards: with RSS the device hashes the TCP 4-tuple; net_af_packet and net_tap have
 * none but their kernel side hashes flows over the queues (af_packet's fanout, tun's automq).
 * Any other device without RSS (ringtail.dpdk.rx.dispatch=auto), or every device when asked
 * (=software), gets the software hash: each shard computes dp_flow_hash of the TCP frames its
 * queue received and hands those of another shard's flows to that shard's ring (multi-producer,
 * relaxed tail sync: a producer preempted mid-enqueue does not stall the others), which the
 * owner drains in its poll after its own queue.  The mbuf moves with the frame; it goes back to
 * its own queue's pool wherever it is freed.  ARP replies go to every shard (each keeps its own
 * cache); other frames stay where they came in.
 *
 * The payload memory must stay valid until the device has sent it: each attached piece pins its
 * send request in the stack (DP_OFF_TX_PINS), and the external buffer's free callback unpins it,
 * so an acknowledgement that arrives while a retransmission still sits in the device's queue does
 * not free memory the device will read.
 */
/* rte_dev_dma_map/unmap are experimental symbols in DPDK 22.11 */
#define ALLOW_EXPERIMENTAL_API 1

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dataplane/net_dpdk/dma_reg.h"
#include "dataplane/net_dpdk/port.h"
#include "dataplane/net_dpdk/zc_policy.h"

#define NB_RXD 1024
#define NB_TXD 1024
#define BURST 32
#define TX_BACKLOG 1024  /* frames the stack sent that the device has not taken yet */
#define NB_MBUF 8191
#define NB_EXT 8191
#define ZC_MIN 256
#define SOFT_RING 4096   /* frames of its flows other shards may have waiting for a shard */

struct dp_port_queue {
	struct dp_port *port;
	uint16_t qid;
	struct rte_mempool *pool;      /* frames: headers and copied payload */
	struct rte_mempool *ext_pool;  /* data-less mbufs for attached payload */
	struct rte_mbuf_ext_shared_info *shinfo; /* NB_EXT, refcounts of attached pieces */
	uint32_t *shfree;              /* free shinfo indexes */
	uint32_t nshfree;
	struct rte_mbuf *tx[TX_BACKLOG];
	uint16_t ntx;
	struct dp_port_stats st;
	struct dp_dma_reg dma;         /* mapped segment ranges registered for the device's DMA */
	unsigned rx_drop_pct;
	uint64_t rng;
	struct rte_ring *soft;         /* software dispatch: frames of this shard's flows that other
	                                * shards received (any producer, this shard consumes) */
};

struct dp_port {
	uint16_t port_id;
	uint16_t nq;
	unsigned offload;     /* DP_OFF_* */
	bool multiseg, zerocopy;
	bool software;        /* on the vdev bus: reads frames through their virtual address */
	bool dma_reg;         /* registers mapped segment memory for the device's DMA */
	bool soft;            /* flows reach their shards by the software hash (see the top) */
	struct rte_device *dev;
	struct rte_ether_addr mac;
	char desc[640];
	char zc_why[160];     /* why payload is or is not sent in place */
	struct dp_port_queue *q;
};

static bool eal_started;

/* Queue-local shinfo objects: a small header before each keeps the owner queue. */
struct ext_slot {
	struct rte_mbuf_ext_shared_info sh;
	struct dp_port_queue *q;
	uint32_t idx;
	void *pin;   /* the stack's token for the memory, released when the device is done */
};

static void ext_free_cb(void *addr, void *opaque)
{
	(void)addr;
	struct ext_slot *s = opaque;
	void *pin = s->pin;
	s->pin = NULL;
	s->q->shfree[s->q->nshfree++] = s->idx;
	if (pin)
		dp_tcp_unpin(pin);
}

static int split_args(char *s, char **argv, int max)
{
	int n = 0;
	for (char *tok = strtok(s, " \t"); tok && n < max; tok = strtok(NULL, " \t"))
		argv[n++] = tok;
	return n;
}

/* A device on the vdev bus is a software one: its driver reads frames through their virtual
 * address (tap, af_packet, pcap, ring, memif, vhost). */
static bool on_vdev_bus(const struct rte_device *dev)
{
	const struct rte_bus *bus = dev ? rte_dev_bus(dev) : NULL;
	return bus && strcmp(rte_bus_name(bus), "vdev") == 0;
}

/* Whether any probed port, owned ones included, is on another bus than vdev. */
static bool hardware_ports(void)
{
	for (uint64_t i = rte_eth_find_next(0); i < RTE_MAX_ETHPORTS; i = rte_eth_find_next((uint16_t)(i + 1))) {
		struct rte_eth_dev_info in;
		if (rte_eth_dev_info_get((uint16_t)i, &in) == 0 && !on_vdev_bus(in.device))
			return true;
	}
	return false;
}

struct dp_port *dp_port_open(const struct dp_dpdk_cfg *cfg, uint16_t nq, char *err, size_t errlen)
{
	if (nq == 0)
		nq = 1;
	static char argbuf[1024];
	static char vdev[300];
	static char *argv[64];
	int argc = 0;
	argv[argc++] = "ringtail";
	snprintf(argbuf, sizeof argbuf, "%s", cfg->eal_args);
	argc += split_args(argbuf, argv + argc, 60);
	bool is_vdev = strncmp(cfg->port, "net_", 4) == 0;
	if (is_vdev) {
		snprintf(vdev, sizeof vdev, "--vdev=%s", cfg->port);
		argv[argc++] = vdev;
	} else {
		argv[argc++] = "-a";
		argv[argc++] = (char *)cfg->port;
	}
	if (!eal_started) {
		if (rte_eal_init(argc, argv) < 0) {
			snprintf(err, errlen, "DPDK EAL start-up failed (%s=%s): %s", DP_DPDK_KEY_EAL,
			         cfg->eal_args, rte_strerror(rte_errno));
			return NULL;
		}
		eal_started = true;
	}
	char name[256];
	snprintf(name, sizeof name, "%s", cfg->port);
	char *comma = strchr(name, ',');
	if (comma)
		*comma = 0;
	uint16_t pid;
	if (rte_eth_dev_get_port_by_name(name, &pid) != 0) {
		snprintf(err, errlen, "%s=%s: DPDK found no such port (%u ports probed)", DP_DPDK_KEY_PORT,
		         cfg->port, rte_eth_dev_count_avail());
		return NULL;
	}
	struct dp_port *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->port_id = pid;
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(pid, &info);
	if (rc) {
		snprintf(err, errlen, "%s: rte_eth_dev_info_get: %s", cfg->port, strerror(-rc));
		goto fail;
	}
	if (nq > info.max_rx_queues || nq > info.max_tx_queues) {
		snprintf(err, errlen, "%s: %u queues asked, the device has %u rx / %u tx", cfg->port, nq,
		         info.max_rx_queues, info.max_tx_queues);
		goto fail;
	}
	/* Ethernet and the CRC around the IP MTU, as ethdev counts a frame (its configure would
	 * only say "Invalid argument") */
	uint32_t frame = (uint32_t)cfg->mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
	if (frame > info.max_rx_pktlen) {
		snprintf(err, errlen, "%s=%u: %s takes frames up to %u bytes (an MTU of %u at most)", DP_DPDK_KEY_MTU,
		         cfg->mtu, cfg->port, info.max_rx_pktlen,
		         info.max_rx_pktlen > RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN ?
		         info.max_rx_pktlen - (RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN) : 0);
		goto fail;
	}
	p->nq = nq;
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof conf);
	uint64_t rss = info.flow_type_rss_offloads & (RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_IPV4);
	if (nq > 1 && rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss;
	}
	/* af_packet and tap have no RSS, but the kernel behind them spreads flows over the queues */
	bool kernel_hash = !strcmp(info.driver_name, "net_af_packet") || !strcmp(info.driver_name, "net_tap");
	p->soft = nq > 1 && (cfg->dispatch == DP_DISPATCH_SOFTWARE ||
	                     (cfg->dispatch == DP_DISPATCH_AUTO && !(conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS) &&
	                      !kernel_hash));
	if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
		p->offload |= DP_OFF_TX_IP_CSUM;
	}
	/* net_tap "offloads" the TCP checksum by summing each segment of the chain on its own
	 * (DPDK 22.11.11): wrong as soon as a zero-copy piece has an odd length, and the peer drops
	 * every such segment, retransmissions included.  There the stack sums in software. */
	bool tcp_csum_ok = strcmp(info.driver_name, "net_tap") != 0;
	if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) && tcp_csum_ok) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
		p->offload |= DP_OFF_TX_TCP_CSUM;
	}
	if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
		p->multiseg = true;
	}
	bool rx_csum = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_CHECKSUM) == RTE_ETH_RX_OFFLOAD_CHECKSUM;
	if (rx_csum)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_CHECKSUM;
	conf.rxmode.mtu = cfg->mtu;
	/* Attached pieces carry their virtual address as IOVA: right as it is for devices whose
	 * driver reads the frame with the CPU.  A NIC that DMAs needs the memory registered with
	 * the EAL and mapped in its IOMMU at that address (rte_extmem_register, rte_dev_dma_map),
	 * which only the IOVA-as-VA mode allows (VFIO with an IOMMU); then the stack's segment
	 * mappings are registered as they are made (queue_dma_map) and only pieces inside them go
	 * in place.  In PA mode nothing can be registered at its virtual address: copies. */
	p->software = on_vdev_bus(info.device);
	p->dev = info.device;
	p->dma_reg = !p->software && cfg->zerocopy && rte_eal_iova_mode() == RTE_IOVA_VA;
	struct dp_zc_facts zf = {.wanted = cfg->zerocopy, .multiseg = p->multiseg,
	                         .software = p->software, .hw_ports = hardware_ports(),
	                         .dma_registered = p->dma_reg};
	p->zerocopy = dp_zc_decide(&zf, p->zc_why, sizeof p->zc_why);
	if (p->zerocopy)
		p->offload |= DP_OFF_TX_PINS;
	rc = rte_eth_dev_configure(pid, nq, nq, &conf);
	if (rc) {
		snprintf(err, errlen, "%s: rte_eth_dev_configure (%u queues): %s", cfg->port, nq, strerror(-rc));
		goto fail;
	}
	uint16_t nrx = NB_RXD, ntx = NB_TXD;
	rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx);
	p->q = calloc(nq, sizeof *p->q);
	if (!p->q)
		goto fail;
	int socket = rte_eth_dev_socket_id(pid);
	/* A received frame must fit one mbuf: the stack takes single-segment frames only, and a
	 * request frame that arrives whole in one is taken without a copy, so with jumbo frames
	 * (up to 9,000 bytes of IP, on a NIC that takes them: net_tap and net_af_packet stop at
	 * 1,500 in DPDK 22.11) larger requests stay in place too. */
	uint32_t room = RTE_ALIGN_CEIL(RTE_PKTMBUF_HEADROOM + frame + 4, 64); /* + a VLAN tag */
	if (room < RTE_MBUF_DEFAULT_BUF_SIZE)
		room = RTE_MBUF_DEFAULT_BUF_SIZE;
	for (uint16_t i = 0; i < nq; i++) {
		struct dp_port_queue *q = &p->q[i];
		char pn[64];
		q->port = p;
		q->qid = i;
		snprintf(pn, sizeof pn, "rt_mb_%u_%u", pid, i);
		q->pool = rte_pktmbuf_pool_create(pn, NB_MBUF, 256, 0, (uint16_t)room, socket);
		snprintf(pn, sizeof pn, "rt_ext_%u_%u", pid, i);
		q->ext_pool = rte_pktmbuf_pool_create(pn, NB_EXT, 256, 0, 0, socket);
		if (!q->pool || !q->ext_pool) {
			snprintf(err, errlen, "%s: mbuf pool for queue %u: %s (with --no-huge, give the EAL "
			         "more memory with -m)", cfg->port, i, rte_strerror(rte_errno));
			goto fail;
		}
		struct ext_slot *slots = calloc(NB_EXT, sizeof *slots);
		q->shfree = calloc(NB_EXT, sizeof *q->shfree);
		if (!slots || !q->shfree)
			goto fail;
		q->shinfo = &slots[0].sh;
		for (uint32_t k = 0; k < NB_EXT; k++) {
			slots[k].q = q;
			slots[k].idx = k;
			slots[k].sh.free_cb = ext_free_cb;
			slots[k].sh.fcb_opaque = &slots[k];
			q->shfree[k] = k;
		}
		q->nshfree = NB_EXT;
		if (p->soft) {
			snprintf(pn, sizeof pn, "rt_soft_%u_%u", pid, i);
			q->soft = rte_ring_create(pn, SOFT_RING, socket, RING_F_MP_RTS_ENQ | RING_F_SC_DEQ);
			if (!q->soft) {
				snprintf(err, errlen, "%s: software dispatch ring for queue %u: %s", cfg->port, i,
				         rte_strerror(rte_errno));
				goto fail;
			}
		}
		rc = rte_eth_rx_queue_setup(pid, i, nrx, (unsigned)socket, NULL, q->pool);
		if (!rc)
			rc = rte_eth_tx_queue_setup(pid, i, ntx, (unsigned)socket, NULL);
		if (rc) {
			snprintf(err, errlen, "%s: queue %u set-up: %s", cfg->port, i, strerror(-rc));
			goto fail;
		}
	}
	rc = rte_eth_dev_start(pid);
	if (rc) {
		snprintf(err, errlen, "%s: rte_eth_dev_start: %s", cfg->port, strerror(-rc));
		goto fail;
	}
	rte_eth_macaddr_get(pid, &p->mac);
	snprintf(p->desc, sizeof p->desc, "port %u (%s, driver %s): %u queue(s)%s, tx csum %s, rx csum %s, %s%s)",
	         pid, cfg->port, info.driver_name, nq,
	         nq == 1 ? "" : p->soft ? " with flows spread by a software hash"
	                    : conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS ? " with RSS"
	                    : kernel_hash ? " with flows spread by the kernel's hash"
	                    : " without RSS (every flow on queue 0)",
	         (p->offload & DP_OFF_TX_TCP_CSUM) ? "offloaded" : "software", rx_csum ? "offloaded" : "software",
	         p->zerocopy ? "zero-copy payload (external mbufs: " : "payload copied (", p->zc_why);
	return p;
fail:
	if (p->q) {
		for (uint16_t i = 0; i < nq; i++) {
			free(p->q[i].shfree);
			if (p->q[i].shinfo)
				free((struct ext_slot *)p->q[i].shinfo);
			rte_ring_free(p->q[i].soft);
		}
		free(p->q);
	}
	free(p);
	return NULL;
}

int dp_port_steer_tcp(struct dp_port *p, uint32_t ip, uint16_t tcp_port, uint16_t q, char *why, size_t whylen)
{
	if (q >= p->nq) {
		snprintf(why, whylen, "queue %u: the port has %u", q, p->nq);
		return -EINVAL;
	}
	struct rte_flow_attr attr = {.ingress = 1};
	struct rte_flow_item_ipv4 ip_spec = {.hdr.dst_addr = rte_cpu_to_be_32(ip)};
	struct rte_flow_item_ipv4 ip_mask = {.hdr.dst_addr = RTE_BE32(0xffffffff)};
	struct rte_flow_item_tcp tcp_spec = {.hdr.dst_port = rte_cpu_to_be_16(tcp_port)};
	struct rte_flow_item_tcp tcp_mask = {.hdr.dst_port = RTE_BE16(0xffff)};
	struct rte_flow_item pattern[] = {
		{.type = RTE_FLOW_ITEM_TYPE_ETH},
		{.type = RTE_FLOW_ITEM_TYPE_IPV4, .spec = &ip_spec, .mask = &ip_mask},
		{.type = RTE_FLOW_ITEM_TYPE_TCP, .spec = &tcp_spec, .mask = &tcp_mask},
		{.type = RTE_FLOW_ITEM_TYPE_END},
	};
	struct rte_flow_action_queue queue = {.index = q};
	struct rte_flow_action actions[] = {
		{.type = RTE_FLOW_ACTION_TYPE_QUEUE, .conf = &queue},
		{.type = RTE_FLOW_ACTION_TYPE_END},
	};
	struct rte_flow_error fe;
	memset(&fe, 0, sizeof fe);
	int rc = rte_flow_validate(p->port_id, &attr, pattern, actions, &fe);
	if (rc == 0 && !rte_flow_create(p->port_id, &attr, pattern, actions, &fe))
		rc = -(rte_errno ? rte_errno : EIO);
	if (rc) {
		snprintf(why, whylen, "%s (%s)", fe.message ? fe.message : "refused", strerror(-rc));
		return rc == -ENOSYS ? -ENOTSUP : rc;
	}
	return 0;
}

void dp_port_unsteer(struct dp_port *p)
{
	struct rte_flow_error fe;
	rte_flow_flush(p->port_id, &fe);
}

void dp_port_close(struct dp_port *p)
{
	if (!p)
		return;
	dp_port_unsteer(p);
	rte_eth_dev_stop(p->port_id);
	rte_eth_dev_close(p->port_id);
	for (uint16_t i = 0; i < p->nq; i++) {
		void *m;
		while (p->q[i].soft && rte_ring_dequeue(p->q[i].soft, &m) == 0)
			rte_pktmbuf_free(m);  /* handed over after its shard's last poll */
		rte_ring_free(p->q[i].soft);
		free(p->q[i].shfree);
		free((struct ext_slot *)p->q[i].shinfo);
		dp_dma_reg_fini(&p->q[i].dma);
	}
	free(p->q);
	free(p);
}

uint16_t dp_port_nqueues(const struct dp_port *p) { return p->nq; }
void dp_port_mac(const struct dp_port *p, uint8_t mac[6]) { memcpy(mac, p->mac.addr_bytes, 6); }
const char *dp_port_describe(const struct dp_port *p) { return p->desc; }
struct dp_port_queue *dp_port_queue(struct dp_port *p, uint16_t q) { return &p->q[q]; }

/* Hands the backlog to the device; what it does not take waits for the next round (dropping
 * it would cost the connection a retransmission timeout). */
static void flush(struct dp_port_queue *q)
{
	uint16_t sent = 0;
	while (sent < q->ntx) {
		uint16_t n = rte_eth_tx_burst(q->port->port_id, q->qid, q->tx + sent, q->ntx - sent);
		if (n == 0)
			break;
		sent += n;
	}
	q->st.tx_frames += sent;
	if (sent && sent < q->ntx)
		memmove(q->tx, q->tx + sent, (size_t)(q->ntx - sent) * sizeof q->tx[0]);
	q->ntx = (uint16_t)(q->ntx - sent);
}

static int queue_tx(void *ctx, const struct dp_pkt_tx *pk)
{
	struct dp_port_queue *q = ctx;
	struct rte_mbuf *m = rte_pktmbuf_alloc(q->pool);
	if (!m)
		return -ENOBUFS;
	char *d = rte_pktmbuf_append(m, pk->hdr_len);
	memcpy(d, pk->hdr, pk->hdr_len);
	struct rte_mbuf *last = m;
	for (int i = 0; i < pk->iovcnt; i++) {
		const struct iovec *v = &pk->iov[i];
		/* In place only for memory the stack pinned: an unpinned piece (a caller without
		 * DP_OFF_TX_PINS, such as dpdk_echo's fault layer) may be freed on the next ACK
		 * while the frame still waits in the backlog, and the device would read freed memory. */
		if (q->port->zerocopy && pk->iov_pin && pk->iov_pin[i] && v->iov_len >= ZC_MIN &&
		    q->nshfree && m->nb_segs < 8 &&
		    (q->port->software || dp_dma_reg_covers(&q->dma, v->iov_base, v->iov_len))) {
			struct rte_mbuf *e = rte_pktmbuf_alloc(q->ext_pool);
			if (e) {
				uint32_t k = q->shfree[--q->nshfree];
				struct ext_slot *slot = (struct ext_slot *)q->shinfo + k;
				rte_mbuf_ext_refcnt_set(&slot->sh, 1);
				slot->pin = pk->iov_pin[i];
				dp_tcp_pin(slot->pin);
				rte_pktmbuf_attach_extbuf(e, v->iov_base, (rte_iova_t)(uintptr_t)v->iov_base,
				                          (uint16_t)v->iov_len, &slot->sh);
				e->data_len = (uint16_t)v->iov_len;
				e->pkt_len = e->data_len;
				last->next = e;
				last = e;
				m->nb_segs++;
				m->pkt_len += e->data_len;
				q->st.tx_zerocopy_segs++;
				q->st.tx_zerocopy_bytes += v->iov_len;
				continue;
			}
		}
		/* copy: into the last mbuf when it is ours and has room, else a new one */
		const uint8_t *src = v->iov_base;
		size_t left = v->iov_len;
		while (left) {
			if (RTE_MBUF_HAS_EXTBUF(last) || rte_pktmbuf_tailroom(last) == 0) {
				struct rte_mbuf *n = rte_pktmbuf_alloc(q->pool);
				if (!n || !q->port->multiseg) {
					if (n)
						rte_pktmbuf_free(n);
					rte_pktmbuf_free(m);
					return -ENOBUFS;
				}
				last->next = n;
				last = n;
				m->nb_segs++;
			}
			size_t room = rte_pktmbuf_tailroom(last);
			size_t k = left < room ? left : room;
			memcpy(rte_pktmbuf_mtod_offset(last, char *, last->data_len), src, k);
			last->data_len = (uint16_t)(last->data_len + k);
			m->pkt_len += (uint32_t)k;
			src += k;
			left -= k;
			q->st.tx_copied_bytes += k;
		}
	}
	if (pk->flags) {
		m->l2_len = pk->l2_len;
		m->l3_len = pk->l3_len;
		m->l4_len = pk->l4_len;
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
		if (pk->flags & DP_OFF_TX_IP_CSUM)
			m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
		if (pk->flags & DP_OFF_TX_TCP_CSUM)
			m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
	}
	if (q->ntx == TX_BACKLOG) {
		flush(q);
		if (q->ntx == TX_BACKLOG) { /* the device is not keeping up: a loss TCP repairs */
			rte_pktmbuf_free(m);
			q->st.tx_dropped++;
			return -ENOBUFS;
		}
	}
	q->tx[q->ntx++] = m;
	if (q->ntx >= BURST)
		flush(q);
	return 0;
}

/* A segment range the stack mapped for sending: registered with the EAL as external memory and
 * mapped for the device's DMA at its virtual address (IOVA as VA), recorded for queue_tx.
 * 0 or -errno (the pieces in it are then copied). */
static int queue_dma_map(void *ctx, void *addr, size_t len)
{
	struct dp_port_queue *q = ctx;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t rlen = RTE_ALIGN_CEIL(len, pg);
	int rc = 0;
	if (rte_extmem_register(addr, rlen, NULL, 0, pg))
		rc = -(rte_errno ? rte_errno : EINVAL);
	else if (rte_dev_dma_map(q->port->dev, addr, (uint64_t)(uintptr_t)addr, rlen)) {
		rc = -(rte_errno ? rte_errno : EINVAL);
		rte_extmem_unregister(addr, rlen);
	} else if ((rc = dp_dma_reg_add(&q->dma, addr, rlen)) != 0) {
		rte_dev_dma_unmap(q->port->dev, addr, (uint64_t)(uintptr_t)addr, rlen);
		rte_extmem_unregister(addr, rlen);
	}
	if (rc)
		q->st.dma_map_failed++;
	else
		q->st.dma_maps++;
	return rc;
}

/* Before the stack unmaps a range queue_dma_map registered (the device is done with it: every
 * piece's pin is released). */
static void queue_dma_unmap(void *ctx, void *addr, size_t len)
{
	struct dp_port_queue *q = ctx;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t rlen = RTE_ALIGN_CEIL(len, pg);
	rte_dev_dma_unmap(q->port->dev, addr, (uint64_t)(uintptr_t)addr, rlen);
	rte_extmem_unregister(addr, rlen);
	dp_dma_reg_del(&q->dma, addr, rlen);
}

void dp_port_queue_pktio(struct dp_port_queue *q, struct dp_pktio *io)
{
	*io = (struct dp_pktio){.ctx = q, .tx = queue_tx, .offload = q->port->offload};
	if (q->port->zerocopy && q->port->dma_reg) {
		io->dma_map = queue_dma_map;
		io->dma_unmap = queue_dma_unmap;
	}
}

/* Hands a received frame to the stack (lendable: the stack may keep its payload, holding the
 * mbuf) and drops our reference. */
static void deliver(struct dp_stack *st, struct rte_mbuf *m)
{
	if (m->nb_segs == 1) {
		unsigned fl = 0;
		if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
		    (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
			fl = DP_OFF_RX_CSUM_OK;
		dp_stack_input_lend(st, rte_pktmbuf_mtod(m, void *), m->data_len, fl, m);
	}
	rte_pktmbuf_free(m);
}

/* The queue whose shard owns the frame's flow under the software hash: a TCP segment of an
 * unfragmented IPv4 packet by dp_flow_hash (remote then local, as the stack hashes its
 * connections), an ARP reply every queue (-1), anything else the queue it came in on. */
static int owner_of(const struct dp_port_queue *q, const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = m->data_len;
	if (len < 14)
		return q->qid;
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == RTE_ETHER_TYPE_ARP)
		return len >= 22 && f[20] == 0 && f[21] == 2 ? -1 : q->qid;
	if (type != RTE_ETHER_TYPE_IPV4 || len < 14 + 20)
		return q->qid;
	const uint8_t *ip = f + 14;
	uint32_t ihl = (ip[0] & 15u) * 4;
	if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != IPPROTO_TCP || ((ip[6] & 0x3f) | ip[7]) || len < 14 + ihl + 4)
		return q->qid;  /* not TCP, or a fragment: the stack drops those where they are */
	uint32_t src = (uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 | (uint32_t)ip[14] << 8 | ip[15];
	uint32_t dst = (uint32_t)ip[16] << 24 | (uint32_t)ip[17] << 16 | (uint32_t)ip[18] << 8 | ip[19];
	const uint8_t *t = ip + ihl;
	return (int)(dp_flow_hash(src, (uint16_t)(t[0] << 8 | t[1]), dst, (uint16_t)(t[2] << 8 | t[3])) %
	             q->port->nq);
}

/* Puts m (one reference, ours) on queue o's software ring; counted, freed when it is full. */
static void hand_over(struct dp_port_queue *q, uint16_t o, struct rte_mbuf *m)
{
	if (rte_ring_enqueue(q->port->q[o].soft, m) == 0) {
		q->st.rx_dispatched++;
	} else {
		q->st.rx_dispatch_dropped++;  /* TCP sends it again */
		rte_pktmbuf_free(m);
	}
}

unsigned dp_port_queue_poll(struct dp_port_queue *q, struct dp_stack *st, uint64_t now_ms)
{
	struct rte_mbuf *rx[BURST];
	dp_stack_tick(st, now_ms);
	uint16_t n = rte_eth_rx_burst(q->port->port_id, q->qid, rx, BURST);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = rx[i];
		if (q->rx_drop_pct) {
			q->rng = q->rng * 6364136223846793005ull + 1442695040888963407ull;
			if ((q->rng >> 33) % 100 < q->rx_drop_pct) {
				q->st.rx_fault_dropped++;
				rte_pktmbuf_free(m);
				continue;
			}
		}
		if (q->port->soft && m->nb_segs == 1) {
			int o = owner_of(q, m);
			if (o < 0) {
				for (uint16_t k = 0; k < q->port->nq; k++) {
					if (k == q->qid)
						continue;
					rte_mbuf_refcnt_update(m, 1);
					hand_over(q, k, m);
				}
			} else if (o != q->qid) {
				hand_over(q, (uint16_t)o, m);
				continue;
			}
		}
		deliver(st, m);
	}
	q->st.rx_frames += n;
	unsigned got = n;
	if (q->soft) {
		n = (uint16_t)rte_ring_dequeue_burst(q->soft, (void **)rx, BURST, NULL);
		for (uint16_t i = 0; i < n; i++)
			deliver(st, rx[i]);
		q->st.rx_from_others += n;
		got += n;
	}
	if (q->ntx)
		flush(q);
	return got;
}

void dp_port_frame_hold(void *ref) { rte_mbuf_refcnt_update(ref, 1); }
void dp_port_frame_release(void *ref) { rte_pktmbuf_free(ref); }
bool dp_port_frame_can_lend(const void *ref)
{
	const struct rte_mempool *mp = ((const struct rte_mbuf *)ref)->pool;
	return rte_mempool_avail_count(mp) > mp->size / 2;
}

void dp_port_queue_set_rx_drop(struct dp_port_queue *q, unsigned pct)
{
	q->rx_drop_pct = pct;
	q->rng = 0x853c49e6748fea9bull;
}

void dp_port_queue_stats(const struct dp_port_queue *q, struct dp_port_stats *out) { *out = q->st; }
