/* `porrio store verify|recover|export|import`: a store read or written without serving it
 * (docs/store.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "porrio.h"

static int usage(void)
{
    fprintf(stderr, "usage: porrio [--SETTING VALUE]... store verify [DATA_DIR]\n"
                    "       porrio [--SETTING VALUE]... store recover --to NEWDIR [DATA_DIR]\n"
                    "       porrio [--SETTING VALUE]... store export [FILE]          (FILE - or none: stdout)\n"
                    "       porrio [--SETTING VALUE]... store import [--merge] [FILE] (FILE - or none: stdin)\n");
    return 2;
}

static void line(void *ctx, const char *fmt, ...)
{
    va_list ap;
    (void)ctx;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void report(FILE *out, const char *prefix, const store_error_t *e)
{
    if (e->file[0] != '\0' && e->offset >= 0)
        fprintf(out, "%s%s at offset %lld: %s\n", prefix, e->file, e->offset, e->problem);
    else if (e->file[0] != '\0')
        fprintf(out, "%s%s: %s\n", prefix, e->file, e->problem);
    else
        fprintf(out, "%s%s\n", prefix, e->problem);
}

/* ---- export and import: through the state the settings name, never its files ---- */

/* Opens the state the settings name; NULL after saying why on stderr, with *rc the exit code. */
static app_t *open_state(settings_t *s, int *rc)
{
    app_opts_t o = settings_app_opts(s);
    int bad_input;
    store_error_t e;
    app_t *a = app_open(&o, &bad_input, &e);
    if (a == NULL) {
        report(stderr, bad_input ? "porrio: cannot load the milestones: " : "porrio: cannot open the store: ", &e);
        *rc = bad_input ? 2 : 1;
    }
    return a;
}

static void say_counts(const char *verb, const app_counts_t *n)
{
    fprintf(stderr, "porrio: %s %zu pools, %zu bets, %zu results, %zu milestones", verb, n->pools, n->bets, n->results, n->hitos);
}

static int write_line(void *ctx, const char *line, size_t len)
{
    FILE *out = ctx;
    return fwrite(line, 1, len, out) == len && putc('\n', out) != EOF ? 0 : -1;
}

static int export_cmd(settings_t *s, const char *file)
{
    int rc = 1;
    app_counts_t n;
    int to_stdout = file == NULL || strcmp(file, "-") == 0;
    app_t *a = open_state(s, &rc);
    if (a == NULL)
        return rc;
    FILE *out = to_stdout ? stdout : fopen(file, "w");
    if (out == NULL) {
        fprintf(stderr, "porrio: cannot write %s: %s\n", file, strerror(errno));
        app_close(a);
        return 1;
    }
    /* a file is on disk when the export says so: it is a backup */
    int ok = app_export(a, write_line, out, &n) == 0 && fflush(out) == 0 && (to_stdout || fsync(fileno(out)) == 0);
    int err = errno;
    app_close(a);
    if (!to_stdout && fclose(out) != 0 && ok)
        ok = 0, err = errno;
    if (!ok) {
        fprintf(stderr, "porrio: cannot write the export to %s: %s\n", to_stdout ? "stdout" : file, strerror(err));
        if (!to_stdout)
            unlink(file); /* no half a backup left to be taken for one */
        return 1;
    }
    say_counts("exported", &n);
    fputc('\n', stderr);
    return 0;
}

/* Reads one line of in into buf, its newline dropped: its length; -1 at the end of the input;
 * -2 when it holds more than max bytes. */
static long read_line(FILE *in, char *buf, size_t max)
{
    size_t n = 0;
    int ch;
    while ((ch = getc_unlocked(in)) != EOF && ch != '\n') {
        if (n == max)
            return -2;
        buf[n++] = (char)ch;
    }
    return ch == EOF && n == 0 ? -1 : (long)n;
}

/* Every line checked first, then applied: a bad file is refused with exit 2, nothing changed. */
static int import_lines(app_t *a, FILE *in, int merge)
{
    char err[600];
    app_counts_t n;
    size_t skipped, line = 0;
    long len = 0;
    int rc = 2;
    char *buf = malloc(APP_IMPORT_LINE_MAX);
    app_import_t *im = buf != NULL ? app_import_begin(a, merge, err, sizeof(err)) : NULL;
    if (im == NULL) {
        fprintf(stderr, "porrio: cannot import: %s%s\n", buf != NULL ? err : "out of memory",
                buf != NULL && !merge ? " (--merge imports into it)" : "");
        free(buf);
        return buf != NULL ? 2 : 1;
    }
    while ((len = read_line(in, buf, APP_IMPORT_LINE_MAX)) >= 0 &&
           (++line, app_import_line(im, buf, (size_t)len, err, sizeof(err)) == 0))
        ;
    if (len == -2)
        snprintf(err, sizeof(err), "line %zu: longer than %d bytes: not an export's line", line + 1, APP_IMPORT_LINE_MAX);
    if (len == -1 && ferror(in)) {
        fprintf(stderr, "porrio: cannot read the import: %s\n", strerror(errno));
        rc = 1;
    } else if (len != -1 || (rc = app_import_commit(im, &n, &skipped, err, sizeof(err))) == -1) {
        fprintf(stderr, "porrio: %s: nothing was imported\n", err);
        rc = 2;
    } else if (rc == -2) {
        fprintf(stderr, "porrio: %s\n", err);
        rc = 1;
    } else {
        say_counts("imported", &n);
        fprintf(stderr, "; %zu lines skipped: the store held them already\n", skipped);
    }
    app_import_free(im);
    free(buf);
    return rc;
}

static int import_cmd(settings_t *s, const char *file, int merge)
{
    int rc = 1;
    int from_stdin = file == NULL || strcmp(file, "-") == 0;
    FILE *in = from_stdin ? stdin : fopen(file, "r");
    if (in == NULL) {
        fprintf(stderr, "porrio: cannot read %s: %s\n", file, strerror(errno));
        return 1;
    }
    app_t *a = open_state(s, &rc);
    if (a != NULL)
        rc = import_lines(a, in, merge);
    app_close(a); /* waits for the store's last write */
    if (!from_stdin)
        fclose(in);
    return rc;
}

/* `store export [FILE]`, `store import [--merge] [FILE]`. */
static int port_command(settings_t *s, int argc, char **argv)
{
    int import = strcmp(argv[1], "import") == 0, merge = 0;
    const char *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (import && strcmp(argv[i], "--merge") == 0 && !merge)
            merge = 1;
        else if (file == NULL && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
            file = argv[i];
        else
            return usage();
    }
    return import ? import_cmd(s, file, merge) : export_cmd(s, file);
}

int store_command(settings_t *s, int argc, char **argv)
{
    const char *to = NULL, *dir = NULL;
    int verify = argc >= 2 && strcmp(argv[1], "verify") == 0;
    if (argc >= 2 && (strcmp(argv[1], "export") == 0 || strcmp(argv[1], "import") == 0))
        return port_command(s, argc, argv);
    if (argc < 2 || (!verify && strcmp(argv[1], "recover") != 0))
        return usage();
    for (int i = 2; i < argc; i++) {
        if (!verify && strcmp(argv[i], "--to") == 0 && i + 1 < argc && to == NULL)
            to = argv[++i];
        else if (dir == NULL && argv[i][0] != '-')
            dir = argv[i];
        else
            return usage();
    }
    if (!verify && to == NULL)
        return usage();
    app_opts_t o = settings_app_opts(s);
    if (dir != NULL)
        o.data_dir = dir;
    app_scan_report_t rep = {.line = line};
    store_error_t e;
    if (verify) {
        int rc = app_verify(&o, &rep, &e);
        if (rc != 0) {
            report(e.damaged ? stdout : stderr, e.damaged ? "DAMAGED: " : "porrio: cannot read the store: ", &e);
            return 1;
        }
        printf("%s: whole, %llu records%s\n", o.data_dir, (unsigned long long)rep.records,
               rep.torn ? " (start-up leaves the torn tail out)" : "");
        if (rep.conflicts > 0)
            printf("%llu added milestones are in HITOS_FILE too: start-up stops until they are taken out of it\n",
                   (unsigned long long)rep.conflicts);
        return 0;
    }
    if (app_recover(&o, to, &rep, &e) != 0) {
        report(stderr, "porrio: ", &e);
        return 1;
    }
    printf("recovered %llu records into %s; skipped %llu records that did not apply and %llu damaged bytes\n",
           (unsigned long long)rep.applied, to, (unsigned long long)rep.skipped_records, (unsigned long long)rep.skipped_bytes);
    return 0;
}
