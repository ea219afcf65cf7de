/* callcache - see callcache.h. The maps are czmq's zhashx (string keys);
 * each value is one allocation holding its length and bytes. */
#include "callcache.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t len;
    char data[]; /* len bytes, then NUL */
} s_blob_t;

/* A map in two generations: `young` takes every write; when it holds
 * `half` entries, `old` is dropped and `young` becomes it. */
typedef struct {
    zhashx_t *young, *old;
    size_t half;
} s_gens_t;

struct cs_callcache {
    s_gens_t legs;     /* ccid -> cs id */
    s_gens_t sessions; /* call_session_id -> cs id */
    s_gens_t records;  /* cs id -> the record's bytes */
    unsigned long long hits, misses;
};

static void s_blob_free(void **item)
{
    free(*item);
    *item = NULL;
}

static zhashx_t *s_map_new(void)
{
    zhashx_t *map = zhashx_new();
    if (map)
        zhashx_set_destructor(map, s_blob_free);
    return map;
}

static int s_gens_init(s_gens_t *g, size_t capacity)
{
    g->half = capacity / 2 ? capacity / 2 : 1;
    g->young = s_map_new();
    g->old = s_map_new();
    return g->young && g->old ? 0 : -1;
}

static void s_gens_clear(s_gens_t *g)
{
    zhashx_destroy(&g->young);
    zhashx_destroy(&g->old);
}

/* Puts a copy of data under key in the young generation; a copy in the old
 * one goes. Out of memory only loses the entry (a later miss). */
static void s_gens_put(s_gens_t *g, const char *key, const char *data, size_t len)
{
    s_blob_t *blob = malloc(sizeof *blob + len + 1);
    if (!blob)
        return;
    blob->len = len;
    memcpy(blob->data, data, len);
    blob->data[len] = '\0';
    zhashx_delete(g->old, key);
    if (!zhashx_lookup(g->young, key) && zhashx_size(g->young) >= g->half) {
        zhashx_t *young = s_map_new();
        if (!young) {
            free(blob);
            return;
        }
        zhashx_destroy(&g->old);
        g->old = g->young;
        g->young = young;
    }
    zhashx_update(g->young, key, blob);
}

static const s_blob_t *s_gens_get(s_gens_t *g, const char *key)
{
    s_blob_t *blob = zhashx_lookup(g->young, key);
    if (blob)
        return blob;
    blob = zhashx_lookup(g->old, key);
    if (!blob)
        return NULL;
    /* in use: move it to the young generation (a copy, as zhashx has no
     * stable way to take an item out without its destructor) */
    s_gens_put(g, key, blob->data, blob->len);
    return zhashx_lookup(g->young, key);
}

static void s_gens_delete(s_gens_t *g, const char *key)
{
    zhashx_delete(g->young, key);
    zhashx_delete(g->old, key);
}

cs_callcache_t *cs_callcache_new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    cs_callcache_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (s_gens_init(&self->legs, capacity * 2) || s_gens_init(&self->sessions, capacity) ||
        s_gens_init(&self->records, capacity)) {
        cs_callcache_destroy(&self);
        return NULL;
    }
    return self;
}

void cs_callcache_destroy(cs_callcache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_gens_clear(&(*self_p)->legs);
    s_gens_clear(&(*self_p)->sessions);
    s_gens_clear(&(*self_p)->records);
    free(*self_p);
    *self_p = NULL;
}

const char *cs_callcache_find(cs_callcache_t *self, const char *ccid, const char *sess,
                              const char *hint, const char **cs_id, size_t *len, bool *joins)
{
    const s_blob_t *leg = ccid && ccid[0] ? s_gens_get(&self->legs, ccid) : NULL;
    const char *cs = leg ? leg->data : NULL;
    *joins = false;
    if (!cs && ccid && ccid[0] && sess && sess[0]) {
        const s_blob_t *of_session = s_gens_get(&self->sessions, sess);
        cs = !of_session ? NULL : hint && hint[0] ? hint : of_session->data;
        *joins = cs != NULL;
    }
    /* the record's lookup may move entries: the leg's and the session's
     * copies stay put, since the maps are apart (a hint is the caller's) */
    const s_blob_t *record = cs ? s_gens_get(&self->records, cs) : NULL;
    if (!record) {
        self->misses++;
        *joins = false;
        return NULL;
    }
    self->hits++;
    *cs_id = cs;
    *len = record->len;
    return record->data;
}

const char *cs_callcache_record(cs_callcache_t *self, const char *cs_id, size_t *len)
{
    const s_blob_t *record = cs_id && cs_id[0] ? s_gens_get(&self->records, cs_id) : NULL;
    if (!record)
        return NULL;
    *len = record->len;
    return record->data;
}

/* Maps key to a cs id that Redis sets once (an index): usually known
 * already, so only a change is written. */
static void s_gens_set_id(s_gens_t *g, const char *key, const char *cs_id)
{
    if (!key[0] || !cs_id[0])
        return;
    const s_blob_t *known = s_gens_get(g, key);
    if (known && strcmp(known->data, cs_id) == 0)
        return;
    s_gens_put(g, key, cs_id, strlen(cs_id));
}

void cs_callcache_set_leg(cs_callcache_t *self, const char *ccid, const char *cs_id)
{
    s_gens_set_id(&self->legs, ccid, cs_id);
}

void cs_callcache_set_session(cs_callcache_t *self, const char *sess, const char *cs_id)
{
    s_gens_set_id(&self->sessions, sess, cs_id);
}

void cs_callcache_set_record(cs_callcache_t *self, const char *cs_id, const char *record,
                             size_t len)
{
    if (cs_id[0])
        s_gens_put(&self->records, cs_id, record, len);
}

void cs_callcache_forget(cs_callcache_t *self, const char *cs_id)
{
    s_gens_delete(&self->records, cs_id);
}

void cs_callcache_clear(cs_callcache_t *self)
{
    zhashx_purge(self->legs.young);
    zhashx_purge(self->legs.old);
    zhashx_purge(self->sessions.young);
    zhashx_purge(self->sessions.old);
    zhashx_purge(self->records.young);
    zhashx_purge(self->records.old);
}

size_t cs_callcache_size(const cs_callcache_t *self)
{
    return zhashx_size(self->records.young) + zhashx_size(self->records.old);
}

void cs_callcache_counts(const cs_callcache_t *self, unsigned long long *hits,
                         unsigned long long *misses)
{
    *hits = self->hits;
    *misses = self->misses;
}
