/* ids - identifiers callsync makes: call record ids (`cs_` + a ULID: 48
 * bits of milliseconds and 80 random bits in Crockford base32, so they sort
 * by creation time) and command ids (UUIDv4, as Telnyx suggests). */
#ifndef CS_IDS_H
#define CS_IDS_H

#include <stddef.h>
#include <stdint.h>

#define CS_CALL_ID_LEN 30 /* "cs_" + 26 + NUL, with room */
#define CS_UUID_STR_LEN 37

/* Needs sodium_init() to have run. */
void cs_ids_call(char out[CS_CALL_ID_LEN], int64_t now_ms);
void cs_ids_uuid(char out[CS_UUID_STR_LEN]);

#endif
