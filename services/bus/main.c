/* callsync-bus - the bus forwarder: czmq's zproxy between the XSUB
 * endpoint publishers connect to and the XPUB endpoint subscribers connect
 * to (see common/bus.h). Stateless; restart it and everyone reconnects. */
#include <czmq.h>
#include <stdio.h>

#include "bus.h"
#include "config.h"
#include "log.h"

int main(int argc, char **argv)
{
    static const char *const vars[] = {"CALLSYNC_BUS_PUB", "CALLSYNC_BUS_SUB", "CALLSYNC_LOG_LEVEL",
                                       NULL};
    char err[256];
    bool help;
    cs_config_t *cfg = cs_config_new("callsync-bus", "the bus forwarder (XSUB -> XPUB)", vars, argc,
                                     argv, &help, err, sizeof err);
    if (!cfg || help) {
        if (!cfg)
            fprintf(stderr, "callsync-bus: %s\n", err);
        int code = cfg ? 0 : 2;
        cs_config_destroy(&cfg);
        return code;
    }
    cs_log_level_t level = CS_LOG_INFO;
    cs_log_level_parse(cs_config_get(cfg, "CALLSYNC_LOG_LEVEL"), &level);
    cs_log_init("bus", level);
    int rc = cs_bus_forward(cs_config_get(cfg, "CALLSYNC_BUS_PUB"),
                            cs_config_get(cfg, "CALLSYNC_BUS_SUB"));
    cs_config_destroy(&cfg);
    return rc ? 1 : 0;
}
