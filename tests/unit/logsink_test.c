/* logsink: LOG_SINK values, the RFC 5424 frame of a line, and a writer that delivers to a real
 * TCP listener, then drops and counts what a full queue has no room for. */
#include "logsink/logsink.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jlog/jlog.h"
#include "test.h"

static void test_url(void)
{
    char host[LOGSINK_HOST_MAX];
    int port = -1;
    EXPECT_INT(logsink_url_parse("", host, sizeof(host), &port), 0);
    EXPECT_STR(host, "");
    EXPECT_INT(logsink_url_parse("syslog+tcp://logs:514", host, sizeof(host), &port), 0);
    EXPECT_STR(host, "logs");
    EXPECT_INT(port, 514);
    EXPECT_INT(logsink_url_parse("syslog+tcp://logs.example.org", host, sizeof(host), &port), 0);
    EXPECT_STR(host, "logs.example.org");
    EXPECT_INT(port, LOGSINK_DEFAULT_PORT);
    EXPECT_INT(logsink_url_parse("syslog+tcp://10.0.0.7:6514/", host, sizeof(host), &port), 0);
    EXPECT_STR(host, "10.0.0.7");
    EXPECT_INT(port, 6514);
    EXPECT_INT(logsink_url_parse("syslog+tcp://[::1]:1514", host, sizeof(host), &port), 0);
    EXPECT_STR(host, "::1");
    EXPECT_INT(port, 1514);
    EXPECT_INT(logsink_url_parse("syslog+tcp://[fe80::1]", host, sizeof(host), &port), 0);
    EXPECT_INT(port, 514);
    EXPECT_INT(logsink_url_parse("syslog+tcp://h:65535", NULL, 0, NULL), 0);
    static const char *const bad[] = {
        "logs:514",
        "tcp://logs:514",
        "syslog+udp://logs:514",
        "syslog+tcp://",
        "syslog+tcp://:514",
        "syslog+tcp://logs:",
        "syslog+tcp://logs:0",
        "syslog+tcp://logs:65536",
        "syslog+tcp://logs:5x4",
        "syslog+tcp://logs:-1",
        "syslog+tcp://lo gs",
        "syslog+tcp://logs/x",
        "syslog+tcp://[::1",
        "syslog+tcp://[nope]:1",
        "syslog+tcp://::1:514",
        "syslog+tcp://logs:514//",
        "syslog+tcp://us@logs",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (logsink_url_parse(bad[i], NULL, 0, NULL) != -1) {
            printf("# accepted %s\n", bad[i]);
            EXPECT(0);
        }
    EXPECT_INT(logsink_url_parse("syslog+tcp://abcdef:1", host, 4, &port), -1); /* host does not fit */
}

static void test_frame(void)
{
    char out[1024];
    const char line[] = "{\"time\":\"2026-01-02T03:04:05.678Z\",\"level\":\"warn\",\"msg\":\"x y\"}\n";
    size_t n = logsink_frame(out, sizeof(out), JLOG_WARN, "web-1", 42, line, sizeof(line) - 1);
    out[n] = '\0';
    const char msg[] = "<132>1 2026-01-02T03:04:05.678Z web-1 porrio 42 - - "
                       "{\"time\":\"2026-01-02T03:04:05.678Z\",\"level\":\"warn\",\"msg\":\"x y\"}";
    char want[1024];
    snprintf(want, sizeof(want), "%zu %s", sizeof(msg) - 1, msg); /* octet counting: LEN SP MSG */
    EXPECT_STR(out, want);
    /* each level's severity under local0 (16 * 8) */
    n = logsink_frame(out, sizeof(out), JLOG_DEBUG, "h", 1, line, sizeof(line) - 1);
    EXPECT(n > 0 && strstr(out, " <135>1 ") != NULL);
    n = logsink_frame(out, sizeof(out), JLOG_INFO, "h", 1, line, sizeof(line) - 1);
    EXPECT(n > 0 && strstr(out, " <134>1 ") != NULL);
    n = logsink_frame(out, sizeof(out), JLOG_ERROR, "h", 1, line, sizeof(line) - 1);
    EXPECT(n > 0 && strstr(out, " <131>1 ") != NULL);
    /* no "time" field, no host name: the NILVALUE */
    n = logsink_frame(out, sizeof(out), JLOG_INFO, "", 7, "{\"a\":1}", 7);
    out[n] = '\0';
    EXPECT_STR(out, "31 <134>1 - - porrio 7 - - {\"a\":1}");
    /* too small: nothing, never a cut frame */
    EXPECT_INT(logsink_frame(out, 40, JLOG_INFO, "h", 1, line, sizeof(line) - 1), 0);
}

/* A listener on a free loopback port: its fd, and the port in *port. */
static int listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (void *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0 || getsockname(fd, (void *)&a, &al) != 0)
        abort();
    *port = ntohs(a.sin_port);
    return fd;
}

/* Reads from fd into buf until it holds `until`, the peer closes, or 3 s pass without a byte. */
static size_t read_for(int fd, char *buf, size_t cap, const char *until)
{
    size_t n = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (n + 1 < cap && poll(&p, 1, 3000) == 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, until) != NULL)
            break;
    }
    buf[n] = '\0';
    return n;
}

static void test_delivery_and_drops(void)
{
    char url[64], err[256], buf[8192];
    int port, lfd = listener(&port);
    snprintf(url, sizeof(url), "syslog+tcp://127.0.0.1:%d", port);
    EXPECT_INT(logsink_start(url, 4, err, sizeof(err)), 0);
    const char a[] = "{\"time\":\"2026-01-02T03:04:05.678Z\",\"msg\":\"one\"}\n";
    const char b[] = "{\"time\":\"2026-01-02T03:04:05.679Z\",\"msg\":\"two\"}\n";
    logsink_line(JLOG_INFO, a, sizeof(a) - 1);
    logsink_line(JLOG_ERROR, b, sizeof(b) - 1);
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    EXPECT_INT(poll(&p, 1, 3000), 1);
    int c = accept(lfd, NULL, NULL);
    read_for(c, buf, sizeof(buf), "\"two\"}");
    EXPECT(strstr(buf, " <134>1 2026-01-02T03:04:05.678Z ") != NULL);
    EXPECT(strstr(buf, "\"one\"}") < strstr(buf, "\"two\"}"));
    EXPECT(strstr(buf, " <131>1 2026-01-02T03:04:05.679Z ") != NULL);
    EXPECT_INT(logsink_dropped(), 0);

    /* the collector goes away: the queue (4 lines) fills, the rest are dropped and counted */
    close(c);
    close(lfd);
    usleep(100 * 1000);
    uint64_t before = logsink_dropped();
    for (int i = 0; i < 50; i++)
        logsink_line(JLOG_INFO, a, sizeof(a) - 1);
    EXPECT(logsink_dropped() - before >= 40);

    /* off: nothing is queued, nothing counted */
    logsink_set("");
    before = logsink_dropped();
    for (int i = 0; i < 50; i++)
        logsink_line(JLOG_INFO, a, sizeof(a) - 1);
    EXPECT_INT(logsink_dropped(), before);
    logsink_stop();
}

int main(void)
{
    jlog_set_fd(2); /* the writer's warning must not mix with the TAP lines */
    RUN(test_url);
    RUN(test_frame);
    RUN(test_delivery_and_drops);
    return TEST_END();
}
