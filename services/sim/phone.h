/* phone - the far-end phone page a person opens at GET /phone: it holds a
 * number, rings when the sim places a call to it, answers with the
 * browser's microphone, and hangs up (the protocol is rtc.c's phone.*). */
#ifndef SIM_PHONE_H
#define SIM_PHONE_H

/* The page, NUL-terminated. */
extern const char sim_phone_html[];

#endif
