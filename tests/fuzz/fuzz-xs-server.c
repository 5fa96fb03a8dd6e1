/* pvic-hostsim's xenstored request handling, fed arbitrary bytes as one client's stream.
 * Input: one control byte, then the stream. The control byte picks the speaking
 * identity (dom0 or guest 5), the initial event order, forced EAGAINs and where the
 * stream is cut in two, so reassembly across reads is exercised too. A watcher on
 * another guest sees every event. Every byte any connection gets must be well-formed
 * xenstore messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/hostsim/xs-server.h"
#include "pvic/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_and_drain(struct xsd_conn *c) {
        size_t off = c->out_off;
        while (off < c->out_len) {
                struct xs_header h;
                ssize_t n = xs_frame_next(c->out + off, c->out_len - off, XS_PAYLOAD_MAX, &h);
                /* The queue holds whole messages only, each within the protocol's limit. */
                if (n <= 0)
                        __builtin_trap();
                if (h.type == XS_WATCH_EVENT && (h.req_id != 0 || h.tx_id != 0))
                        __builtin_trap();
                off += (size_t)n;
        }
        xsd_conn_consume(c, xsd_conn_pending(c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        log_set_max_level(LOG_CRIT);
        uint8_t ctl = data[0];
        data++;
        size--;

        struct xsd_config cfg = {
                .event_before_ok = ctl & 2,
                .force_eagain = (ctl >> 2) & 1,
                .quota_nodes = 60,
                .quota_watches = 8,
                .quota_transactions = 4,
        };
        struct xsd_server *srv = xsd_server_new(&cfg);
        if (!srv)
                return 0;
        srv->domids = malloc(2 * sizeof *srv->domids);
        if (!srv->domids) {
                xsd_server_free(srv);
                return 0;
        }
        srv->domids[0] = 5;
        srv->domids[1] = 7;
        srv->n_domids = 2;
        if (xsd_seed_base(srv->store) < 0 || xsd_seed_domain(srv->store, 5, ctl & 8) < 0 ||
            xsd_seed_domain(srv->store, 7, false) < 0) {
                xsd_server_free(srv);
                return 0;
        }

        struct xsd_conn *watcher = xsd_conn_new(srv, 7, false);
        struct xsd_conn *c = xsd_conn_new(srv, ctl & 1 ? 5 : 0, !(ctl & 1));
        if (!watcher || !c) {
                xsd_server_free(srv);
                return 0;
        }
        static const uint8_t watch_all[] = {
                XS_WATCH, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, '/', 0, 'w', 0,
        };
        (void)xsd_conn_feed(watcher, watch_all, sizeof watch_all);

        size_t cut = size * (ctl >> 4) / 16;
        if (xsd_conn_feed(c, data, cut) == 0) {
                check_and_drain(c);
                (void)xsd_conn_feed(c, data + cut, size - cut);
        }
        /* Even a dropped connection's queue must hold whole messages. */
        check_and_drain(c);
        check_and_drain(watcher);

        xsd_server_free(srv);
        return 0;
}
