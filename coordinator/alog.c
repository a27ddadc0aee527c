/* alog.c — one log file per attempt, FARM_HOME/logs/a<attempt id>.log, only ever appended to
 * (attempt ids are never reused, so no log is overwritten). Lines: "<UTC time> <text>". */
#include "coordinator/farmd.h"
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void coord_alog(coord_farmd_t *f, int64_t attempt_id, const char *fmt, ...)
{
    char path[700], line[2048];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    snprintf(path, sizeof path, "%s/a%lld.log", f->dir_logs, (long long)attempt_id);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (write(fd, line, len) < 0) { /* a log line is best effort */ }
    close(fd);
}
