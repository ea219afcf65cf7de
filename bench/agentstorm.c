/* agentstorm - the publisher of bench/agentstorm.mjs: N agent.changed
 * notices (agents storm00000...) on the bus at RATE a second, as a mass
 * reconnect after an outage sends them. Prints when the last one was sent
 * (CLOCK_MONOTONIC, ns: node's process.hrtime.bigint() reads the same).
 * Usage: agentstorm <bus PUB endpoint> <N> <RATE>. */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "agents.h"
#include "bus.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: agentstorm <bus PUB endpoint> <N> <RATE>\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    double rate = strtod(argv[3], NULL);
    if (n < 1 || n > 99999 || rate <= 0) {
        fprintf(stderr, "agentstorm: N 1-99999, RATE > 0\n");
        return 2;
    }
    cs_bus_t *bus = cs_bus_pub_new(argv[1]);
    if (!bus)
        return 1;
    zclock_sleep(300); /* PUB drops what it sends before the connection is up */
    int64_t t0 = zclock_usecs();
    long dropped = 0;
    for (long i = 0; i < n; i++) {
        while (zclock_usecs() - t0 < (int64_t)((double)i * 1e6 / rate))
            ; /* paced: a sender over the bus's high-water mark loses notices */
        char id[16];
        snprintf(id, sizeof id, "storm%05ld", i);
        dropped += cs_agent_announce(bus, id) != 0;
    }
    struct timespec done;
    clock_gettime(CLOCK_MONOTONIC, &done);
    printf("%lld\n", (long long)done.tv_sec * 1000000000LL + done.tv_nsec);
    zclock_sleep(200);
    cs_bus_destroy(&bus);
    return dropped ? 1 : 0;
}
