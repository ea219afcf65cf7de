/* bus - change notices and commands between services, over ZeroMQ.
 *
 * Topology (proto/README.md): one forwarder, callsync-bus, binds an XSUB
 * endpoint (CALLSYNC_BUS_PUB) that every publisher connects to and an XPUB
 * endpoint (CALLSYNC_BUS_SUB) that every subscriber connects to; it is
 * libzmq's own proxy (zmq_proxy_steerable), not a broker of ours. Any number of instances of each
 * service can therefore come and go. A message is two frames: the topic and
 * a body whose form the topic fixes (proto/README.md): JSON for commands,
 * the stored record string for call.changed.
 * The bus may lose messages (PUB/SUB drops when nobody listens or a queue
 * is full): Redis is the truth, and a consumer that sees a version gap
 * re-reads the record. */
#ifndef CS_BUS_H
#define CS_BUS_H

#include <jansson.h>

typedef struct cs_bus cs_bus_t;

/* A publisher connected to `endpoint`. Safe to share between threads (it
 * serialises sends). NULL on a bad endpoint. */
cs_bus_t *cs_bus_pub_new(const char *endpoint);

/* A subscriber to every topic starting with one of `prefixes` (NULL-ended). */
cs_bus_t *cs_bus_sub_new(const char *endpoint, const char *const *prefixes);

void cs_bus_destroy(cs_bus_t **self_p);

/* Sends topic + body without blocking; a full queue drops it. 0 when queued. */
int cs_bus_send(cs_bus_t *self, const char *topic, const void *body, size_t len);

/* cs_bus_send of compact JSON. */
int cs_bus_publish(cs_bus_t *self, const char *topic, const json_t *msg);

/* Waits up to timeout_ms for one message. Returns 0 with the topic and the
 * body (NUL-terminated; caller frees both); 1 on timeout or interrupt; -1
 * for a message that is not two frames (dropped, logged). */
int cs_bus_recv(cs_bus_t *self, int timeout_ms, char **topic, char **body, size_t *len);

/* Runs the forwarder until SIGTERM/SIGINT. Returns 0, or -1 (logged, with
 * the reason) if an endpoint cannot be bound: taken, or not an endpoint. */
int cs_bus_forward(const char *pub_endpoint, const char *sub_endpoint);

#endif
