/* bus - see bus.h. */
#include "bus.h"

#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct cs_bus {
    zsock_t *sock;
    zpoller_t *poller;
    pthread_mutex_t lock;
};

static cs_bus_t *s_new(zsock_t *sock)
{
    if (!sock)
        return NULL;
    cs_bus_t *self = calloc(1, sizeof *self);
    if (!self) {
        zsock_destroy(&sock);
        return NULL;
    }
    self->sock = sock;
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

cs_bus_t *cs_bus_pub_new(const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_PUB);
    if (!sock)
        return NULL;
    zsock_set_sndhwm(sock, 100000);
    zsock_set_linger(sock, 200);
    if (zsock_connect(sock, "%s", endpoint) != 0) {
        cs_error("bus: cannot connect to %s", endpoint);
        zsock_destroy(&sock);
        return NULL;
    }
    return s_new(sock);
}

cs_bus_t *cs_bus_sub_new(const char *endpoint, const char *const *prefixes)
{
    zsock_t *sock = zsock_new(ZMQ_SUB);
    if (!sock)
        return NULL;
    zsock_set_rcvhwm(sock, 100000);
    for (; prefixes && *prefixes; prefixes++)
        zsock_set_subscribe(sock, *prefixes);
    if (zsock_connect(sock, "%s", endpoint) != 0) {
        cs_error("bus: cannot connect to %s", endpoint);
        zsock_destroy(&sock);
        return NULL;
    }
    cs_bus_t *self = s_new(sock);
    if (self)
        self->poller = zpoller_new(self->sock, NULL);
    return self;
}

void cs_bus_destroy(cs_bus_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_bus_t *self = *self_p;
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->sock);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int cs_bus_send(cs_bus_t *self, const char *topic, const void *body, size_t len)
{
    pthread_mutex_lock(&self->lock);
    void *handle = zsock_resolve(self->sock);
    int rc = zmq_send(handle, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ? -1 : 0;
    if (rc == 0)
        rc = zmq_send(handle, body, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int cs_bus_publish(cs_bus_t *self, const char *topic, const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text)
        return -1;
    int rc = cs_bus_send(self, topic, text, strlen(text));
    free(text);
    return rc;
}

int cs_bus_recv(cs_bus_t *self, int timeout_ms, char **topic, char **body, size_t *len)
{
    *topic = NULL;
    *body = NULL;
    *len = 0;
    if (!zpoller_wait(self->poller, timeout_ms))
        return 1;
    zmsg_t *m = zmsg_recv(self->sock);
    if (!m)
        return 1;
    int rc = -1;
    if (zmsg_size(m) == 2) {
        *topic = zmsg_popstr(m);
        zframe_t *f = zmsg_pop(m);
        *len = zframe_size(f);
        *body = malloc(*len + 1);
        if (*topic && *body) {
            memcpy(*body, zframe_data(f), *len);
            (*body)[*len] = '\0';
            rc = 0;
        } else {
            zstr_free(topic);
            free(*body);
            *body = NULL;
        }
        zframe_destroy(&f);
    }
    if (rc)
        cs_warn("bus: dropped a message that is not topic + body");
    zmsg_destroy(&m);
    return rc;
}

/* The forwarder is libzmq's zmq_proxy_steerable, on a thread of its own,
 * between sockets bound here rather than by czmq's zproxy actor: zproxy
 * asserts (the process aborts) when an endpoint cannot be bound, and a
 * port that is taken must be an error message and exit status 1. The
 * calling thread waits for SIGTERM/SIGINT (czmq's handler) and stops the
 * proxy over its control socket. */
typedef struct {
    zsock_t *front, *back, *control;
} s_proxy_t;

static void *s_proxy_run(void *arg)
{
    s_proxy_t *p = arg;
    sigset_t all; /* signals are the waiting thread's; a poll here must not end early */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    zmq_proxy_steerable(zsock_resolve(p->front), zsock_resolve(p->back), NULL,
                        zsock_resolve(p->control));
    return NULL;
}

static int s_bind(zsock_t *sock, const char *endpoint)
{
    if (sock && zsock_bind(sock, "%s", endpoint) >= 0)
        return 0;
    cs_error("bus: cannot bind %s: %s", endpoint, sock ? zmq_strerror(zmq_errno()) : "no socket");
    return -1;
}

int cs_bus_forward(const char *pub_endpoint, const char *sub_endpoint)
{
    int rc = -1;
    char control[64];
    s_proxy_t p = {zsock_new(ZMQ_XSUB), zsock_new(ZMQ_XPUB), NULL};
    zsock_t *stop = NULL;
    pthread_t thread;
    if (s_bind(p.front, pub_endpoint) || s_bind(p.back, sub_endpoint))
        goto out;
    snprintf(control, sizeof control, "inproc://callsync-bus-%p", (void *)&p);
    p.control = zsock_new(ZMQ_PAIR);
    stop = zsock_new(ZMQ_PAIR);
    if (s_bind(p.control, control) || !stop || zsock_connect(stop, "%s", control) < 0 ||
        pthread_create(&thread, NULL, s_proxy_run, &p)) {
        cs_error("bus: cannot start the forwarder");
        goto out;
    }
    cs_info("bus: forwarding %s -> %s", pub_endpoint, sub_endpoint);
    while (!zsys_interrupted)
        zclock_sleep(200);
    zstr_send(stop, "TERMINATE");
    pthread_join(thread, NULL);
    rc = 0;
out:
    zsock_destroy(&stop);
    zsock_destroy(&p.control);
    zsock_destroy(&p.back);
    zsock_destroy(&p.front);
    return rc;
}
