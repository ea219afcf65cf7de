/* phone - the /phone page (phone.html), built into the binary so that the
 * sim serves it with nothing installed beside it. The assembler's .incbin
 * copies the file's bytes at build time (the Makefile names the
 * dependency); a NUL ends them. */
#include "phone.h"

__asm__(".section .rodata\n"
        ".global sim_phone_html\n"
        ".type sim_phone_html, @object\n"
        "sim_phone_html:\n"
        ".incbin \"services/sim/phone.html\"\n"
        ".byte 0\n"
        ".previous\n");
