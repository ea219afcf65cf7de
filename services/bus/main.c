/* callsync-bus - the bus forwarder: libzmq's proxy between the XSUB
 * endpoint publishers connect to and the XPUB endpoint subscribers connect
 * to (see common/bus.h). Stateless; restart it and everyone reconnects. */
#include <czmq.h>
#include <stdio.h>

#include "bus.h"
#include "config.h"
#include "log.h"
#include "service.h"

int main(int argc, char **argv)
{
    static const char *const vars[] = {"CALLSYNC_BUS_PUB", "CALLSYNC_BUS_SUB", "CALLSYNC_LOG_LEVEL",
                                       NULL};
    int rc;
    cs_config_t *cfg = cs_service_config("callsync-bus", "bus", "the bus forwarder (XSUB -> XPUB)",
                                         vars, argc, argv, &rc);
    if (!cfg)
        return rc;
    rc = cs_bus_forward(cs_config_get(cfg, "CALLSYNC_BUS_PUB"),
                        cs_config_get(cfg, "CALLSYNC_BUS_SUB"));
    cs_config_destroy(&cfg);
    return rc ? 1 : 0;
}
