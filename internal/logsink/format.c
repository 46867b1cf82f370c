/* logsink: the LOG_SINK value and the wire format of one message. */
#include "logsink/logsink.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "jlog/jlog.h"

#define FACILITY_LOCAL0 16

int logsink_url_parse(const char *url, char *host, size_t hostlen, int *port)
{
    if (url[0] != '\0')
        return cfg_url_parse(url, strlen(url), LOGSINK_SCHEME, LOGSINK_DEFAULT_PORT, host, hostlen, port);
    if (host != NULL && hostlen > 0)
        host[0] = '\0';
    if (port != NULL)
        *port = 0;
    return host != NULL && hostlen == 0 ? -1 : 0;
}

static int severity(int level)
{
    switch (level) {
    case JLOG_DEBUG:
        return 7;
    case JLOG_WARN:
        return 4;
    case JLOG_ERROR:
        return 3;
    default:
        return 6;
    }
}

/* The line's "time" value when it opens with one (jlog_begin writes it first), else NULL. */
static const char *line_time(const char *line, size_t len, size_t *tlen)
{
    static const char open[] = "{\"time\":\"";
    if (len < sizeof(open) - 1 || memcmp(line, open, sizeof(open) - 1) != 0)
        return NULL;
    const char *t = line + sizeof(open) - 1, *q = memchr(t, '"', len - (sizeof(open) - 1));
    if (q == NULL || q == t || q - t > 40)
        return NULL;
    *tlen = (size_t)(q - t);
    return t;
}

size_t logsink_frame(char *out, size_t cap, int level, const char *hostname, long procid, const char *line, size_t len)
{
    char head[400];
    size_t tlen = 1;
    const char *t = line_time(line, len, &tlen);
    if (len > 0 && line[len - 1] == '\n')
        len--;
    int hn = snprintf(head, sizeof(head), "<%d>1 %.*s %.255s porrio %ld - - ", FACILITY_LOCAL0 * 8 + severity(level), (int)tlen,
                      t != NULL ? t : "-", hostname[0] != '\0' ? hostname : "-", procid);
    if (hn < 0 || (size_t)hn >= sizeof(head))
        return 0;
    size_t msg = (size_t)hn + len;
    int ln = snprintf(out, cap, "%zu ", msg);
    if (ln < 0 || (size_t)ln + msg > cap)
        return 0;
    memcpy(out + ln, head, (size_t)hn);
    memcpy(out + ln + hn, line, len);
    return (size_t)ln + msg;
}
