/*
 * jsonw: writing JSON text. One escaping rule for everything porrio writes — log lines and
 * answers alike — and a growable buffer for the answers rendered from the state.
 */
#ifndef PORRIO_JSONW_H
#define PORRIO_JSONW_H
#include <stddef.h>

/**
 * JSON-escapes `len` bytes of `src` into `dst` (no quotes added, no NUL written), stopping
 * before a character that would not fit in `cap`. Control characters, '"' and '\\' are escaped;
 * invalid UTF-8 becomes U+FFFD; U+2028/U+2029 are escaped. Returns the bytes written. Cannot fail.
 */
size_t jsonw_escape(char *dst, size_t cap, const char *src, size_t len);

/** Length (1-4) of the valid UTF-8 sequence at the start of the `n` bytes at `s`, or 0 when they do
 * not begin with one (overlong, surrogate, past U+10FFFF, cut short). n must be at least 1. */
size_t jsonw_utf8_len(const unsigned char *s, size_t n);

/**
 * 1 when the `len` bytes of `s` are valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF): those jsonw_escape writes back unchanged. 0 otherwise. Cannot fail.
 */
int jsonw_utf8_ok(const char *s, size_t len);

/** A buffer that grows as text is added; a failed allocation is remembered, not reported per call. */
typedef struct jsonw {
    char *buf;
    size_t len, cap;
    int oom;
} jsonw_t;

#define JSONW_INIT ((jsonw_t){NULL, 0, 0, 0})

/** Adds `n` bytes as they are. */
void jsonw_raw(jsonw_t *w, const char *s, size_t n);
/** Adds a NUL-terminated literal as it is. */
void jsonw_lit(jsonw_t *w, const char *s);
/** Adds `n` bytes as a quoted, escaped JSON string. */
void jsonw_str(jsonw_t *w, const char *s, size_t n);
/** Adds an integer. */
void jsonw_int(jsonw_t *w, long long v);

/**
 * Hands over the text, NUL-terminated, with its length in *len; the caller frees it. NULL when
 * memory ran out at any point (the buffer is freed). w is empty afterwards.
 */
char *jsonw_finish(jsonw_t *w, size_t *len);

/** Text made once and then shared read-only: its length and bytes in one allocation. */
typedef struct jsonw_text {
    size_t len;
    char data[];
} jsonw_text_t;

/** Starts w as a text: call on an empty w, before adding anything. */
void jsonw_text_begin(jsonw_t *w);

/** Hands over w's text (begun with jsonw_text_begin), NUL-terminated; free() it. NULL on OOM. */
jsonw_text_t *jsonw_text_finish(jsonw_t *w);

/**
 * The text in *slot, made by render(ctx) the first time any thread asks; threads that render at
 * once keep the first one stored and free their own. Returns its bytes and *len; NULL when
 * render failed (nothing stored). The slot's owner frees the text.
 */
const char *jsonw_text_once(jsonw_text_t **slot, jsonw_text_t *(*render)(const void *ctx), const void *ctx, size_t *len);

/** Frees whatever w holds. */
void jsonw_free(jsonw_t *w);

#endif
