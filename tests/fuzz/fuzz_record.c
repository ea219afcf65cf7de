/* libFuzzer: any bytes as a stored record ("<version> <json>", from Redis
 * or a call.changed bus message) and, after a newline, as a history entry
 * read against that record. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_call_t call;
    char err[256];
    const uint8_t *nl = memchr(data, '\n', size);
    size_t rec_len = nl ? (size_t)(nl - data) : size;
    if (cs_store_decode((const char *)data, rec_len, &call, err, sizeof err))
        cs_call_init(&call, "cs_FUZZ");
    json_decref(cs_call_to_json(&call));
    if (!nl)
        return 0;
    json_t *entry = json_loadb((const char *)nl + 1, size - rec_len - 1, 0, NULL);
    if (!entry)
        return 0;
    cs_event_t ev;
    int64_t rx;
    if (cs_call_history_event(&call, entry, &ev, &rx, err, sizeof err) == 0)
        cs_call_merge(&call, &ev, NULL);
    json_decref(entry);
    return 0;
}
