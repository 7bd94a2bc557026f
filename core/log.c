/* Logging. One formatted line is written with a single write(2) so lines from
 * the signaling, HTTP and media threads never interleave mid-line. */
#include "config.h"

#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = SW_LOG_INFO;
static sw_log_target_t log_target = SW_LOG_TO_STDERR;

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};

void sw_log_setup(sw_log_target_t target, sw_log_level_t level)
{
    if (target == SW_LOG_TO_SYSLOG && log_target != SW_LOG_TO_SYSLOG)
        openlog("sipswitch", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_target = target;
    sw_log_set_level(level);
}

void sw_log_set_level(sw_log_level_t level)
{
    if ((int)level < SW_LOG_ERROR || level > SW_LOG_DEBUG)
        level = SW_LOG_INFO;
    atomic_store(&log_level, (int)level);
}

bool sw_log_enabled(sw_log_level_t level)
{
    return (int)level <= atomic_load(&log_level);
}

int sw_log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    if (strcasecmp(s, "warning") == 0)
        return SW_LOG_WARN;
    return -1;
}

const char *sw_log_level_name(sw_log_level_t level)
{
    if ((int)level < SW_LOG_ERROR || level > SW_LOG_DEBUG)
        return "?";
    return level_names[level];
}

void sw_logv(sw_log_level_t level, const char *who, const char *call_id, const char *fmt, va_list ap)
{
    if (!sw_log_enabled(level))
        return;
    char line[2048];
    size_t off = 0;
    if (log_target == SW_LOG_TO_STDERR) {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        off += strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        off += (size_t)snprintf(line + off, sizeof line - off, ".%03ldZ %-6s ",
                                ts.tv_nsec / 1000000, level_names[level]);
    }
    if (who)
        off += (size_t)snprintf(line + off, sizeof line - off, "[%s] ", who);
    if (call_id)
        off += (size_t)snprintf(line + off, sizeof line - off, "[call-id %s] ", call_id);
    if (off < sizeof line) {
        int n = vsnprintf(line + off, sizeof line - off, fmt, ap);
        if (n > 0)
            off += (size_t)n;
    }
    if (off > sizeof line - 2)
        off = sizeof line - 2;
    if (log_target == SW_LOG_TO_SYSLOG) {
        line[off] = '\0';
        syslog(syslog_prio[level], "%s", line);
        return;
    }
    line[off++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, off);
    (void)w;
}

void sw_logf(sw_log_level_t level, const char *who, const char *call_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sw_logv(level, who, call_id, fmt, ap);
    va_end(ap);
}
