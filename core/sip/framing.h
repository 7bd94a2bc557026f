/* Framing a SIP byte stream (TCP) across reads. sw_sip_frame (sip.h) frames
 * one buffer from its start; a connection's buffer grows a few bytes per
 * read, and framing it from the start after every read costs the sum of its
 * prefixes: a 64 KB header trickled one byte per read would cost seconds of
 * the signaling thread. The stream framer remembers how far the previous
 * reads were examined, so each byte of a message is looked at a bounded
 * number of times whatever the way it arrives. */
#ifndef SW_SIP_FRAMING_H
#define SW_SIP_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/sip.h"

/* What is known of the pending message between reads. Zero it to start;
 * it describes the bytes at the start of the pending data, so it must be
 * reset (sw_stream_framer_reset) whenever bytes are consumed from there. */
typedef struct sw_stream_framer {
    size_t skipped;             /* leading CR/LF bytes already seen */
    size_t scanned;             /* bytes after those known to hold no end of headers */
    size_t total;               /* headers complete: the bytes the message needs (0: not known) */
    uint64_t bytes_examined;    /* bytes looked at since creation (kept by reset): tests prove it linear */
} sw_stream_framer_t;

void sw_stream_framer_reset(sw_stream_framer_t *f);

/* sw_sip_frame(buf, len, stream = true, max_size, out), with the same
 * results, for a buffer that only grew at its end since the previous call
 * (or since the last reset): bytes already examined are not examined again,
 * and the full framing runs only once the end of the headers (and then the
 * body) is there. On OK and ERROR the framer is reset. On INCOMPLETE `out`
 * holds skipped (and total once the headers are complete). */
sw_frame_status_t sw_sip_frame_stream(sw_stream_framer_t *f, const char *buf, size_t len, size_t max_size,
                                      sw_frame_t *out);

/* The drain loop of a stream connection: what to do with what it finds. */
typedef struct sw_stream_sink {
    void (*pong)(void *ud);                                     /* a CRLFCRLF ping: send CRLF */
    /* a whole message: buf[fr->skipped .. fr->total); false stops draining
     * (the connection closed) */
    bool (*message)(void *ud, const char *buf, const sw_frame_t *fr);
    /* framing failed at buf[0..len) (oversize tells "message too large"):
     * the connection must be closed after the answer */
    void (*framing_error)(void *ud, const char *buf, size_t len, const char *reason, bool oversize);
} sw_stream_sink_t;

/* Consumes every complete message at the start of buf[0..len): RFC 5626
 * keep-alives (a CRLFCRLF ping gets a pong, a lone CRLF is skipped), whole
 * messages, a framing error (sets *must_close and stops). Returns how many
 * bytes were consumed; the caller drops them from its buffer. */
size_t sw_stream_drain(sw_stream_framer_t *f, const char *buf, size_t len, size_t max_size,
                       const sw_stream_sink_t *sink, void *ud, bool *must_close);

#endif
