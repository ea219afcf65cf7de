/* libFuzzer: any bytes as a webhook body. A body the parser accepts is
 * merged into a record, stored and read back, and written to and read from
 * the history: none of it may crash, leak or lose the record. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_call_t call, back;
    cs_event_t ev, ev2;
    char err[256];
    if (cs_webhook_parse((const char *)data, size, &ev, err, sizeof err))
        return 0;
    cs_call_init(&call, "cs_FUZZ");
    cs_call_merge(&call, &ev, NULL);
    json_t *doc = cs_call_to_store(&call);
    if (cs_call_from_store(&back, doc, err, sizeof err) || memcmp(&back, &call, sizeof call))
        abort();
    json_decref(doc);
    json_t *entry = cs_call_history_entry(&call, &ev, 1764000000000);
    int64_t rx;
    if (cs_call_history_event(&call, entry, &ev2, &rx, err, sizeof err))
        abort();
    json_decref(entry);
    json_decref(cs_call_to_json(&call));
    return 0;
}
