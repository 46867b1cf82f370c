/* JSON text: escaping strings, and a growable buffer the renderers of the answers write into. */
#include "jsonw/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t jsonw_utf8_len(const unsigned char *s, size_t n)
{
    size_t need;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        need = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        need = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        need = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

int jsonw_utf8_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, n; i < len; i += n)
        if ((n = jsonw_utf8_len(p + i, len - i)) == 0)
            return 0;
    return 1;
}

size_t jsonw_escape(char *dst, size_t cap, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        char tmp[8];
        size_t tl = 0, adv = 1;
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') { /* the common case: copied as is */
            if (o + 1 > cap)
                break;
            dst[o++] = (char)c, i++;
            continue;
        }
        if (c == '"' || c == '\\') {
            tmp[tl++] = '\\', tmp[tl++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            const char *short_esc = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (short_esc != NULL) {
                memcpy(tmp, short_esc, 2), tl = 2;
            } else {
                memcpy(tmp, "\\u00", 4), tl = 4;
                tmp[tl++] = hex[c >> 4], tmp[tl++] = hex[c & 15];
            }
        } else if ((adv = jsonw_utf8_len(s + i, len - i)) == 0) {
            memcpy(tmp, "\\ufffd", 6), tl = 6, adv = 1;
        } else if (adv == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
            /* line and paragraph separators end a line for some JSON-lines readers */
            memcpy(tmp, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6), tl = 6;
        } else {
            memcpy(tmp, s + i, adv), tl = adv;
        }
        if (o + tl > cap)
            break;
        memcpy(dst + o, tmp, tl);
        o += tl, i += adv;
    }
    return o;
}

/* Room for n more bytes and a NUL; 0, or -1 once an allocation failed. */
static int reserve(jsonw_t *w, size_t n)
{
    if (w->oom)
        return -1;
    if (w->len + n + 1 <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n + 1)
        cap *= 2;
    char *b = realloc(w->buf, cap);
    if (b == NULL) {
        w->oom = 1;
        return -1;
    }
    w->buf = b, w->cap = cap;
    return 0;
}

void jsonw_raw(jsonw_t *w, const char *s, size_t n)
{
    if (reserve(w, n) == 0) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

void jsonw_lit(jsonw_t *w, const char *s)
{
    jsonw_raw(w, s, strlen(s));
}

void jsonw_str(jsonw_t *w, const char *s, size_t n)
{
    /* an escaped byte takes at most 6 bytes (\u00XX; U+FFFD for one bad byte is \ufffd) */
    if (reserve(w, 6 * n + 2) != 0)
        return;
    w->buf[w->len++] = '"';
    w->len += jsonw_escape(w->buf + w->len, 6 * n, s, n);
    w->buf[w->len++] = '"';
}

void jsonw_int(jsonw_t *w, long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", v);
    jsonw_raw(w, tmp, (size_t)n);
}

char *jsonw_finish(jsonw_t *w, size_t *len)
{
    if (reserve(w, 0) != 0) {
        jsonw_free(w);
        return NULL;
    }
    char *b = w->buf, *fit;
    b[w->len] = '\0';
    *len = w->len;
    if (w->cap > w->len + 1 && (fit = realloc(b, w->len + 1)) != NULL) /* answers are kept: no slack */
        b = fit;
    *w = JSONW_INIT;
    return b;
}

void jsonw_free(jsonw_t *w)
{
    free(w->buf);
    *w = JSONW_INIT;
}

void jsonw_text_begin(jsonw_t *w)
{
    jsonw_raw(w, (const char[sizeof(jsonw_text_t)]){0}, sizeof(jsonw_text_t));
}

jsonw_text_t *jsonw_text_finish(jsonw_t *w)
{
    size_t len;
    jsonw_text_t *t = (jsonw_text_t *)jsonw_finish(w, &len);
    if (t != NULL)
        t->len = len - sizeof(jsonw_text_t);
    return t;
}

const char *jsonw_text_once(jsonw_text_t **slot, jsonw_text_t *(*render)(const void *ctx), const void *ctx, size_t *len)
{
    jsonw_text_t *t = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *none = NULL;
    if (t == NULL) {
        if ((t = render(ctx)) == NULL)
            return NULL;
        if (!__atomic_compare_exchange_n(slot, &none, t, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            free(t);
            t = none;
        }
    }
    *len = t->len;
    return t->data;
}
