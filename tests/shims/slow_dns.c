/* TEST ONLY: an LD_PRELOAD stand-in for a slow DNS server, so that a test can
 * show what the switch does while a lookup hangs without any real server.
 *
 *   a name with a ".slow." label  waits SLOW_DNS_MS first (default 3000)
 *   a name ending in ".test"      is 127.0.0.1
 *   a name ending in ".invalid"   does not exist (EAI_NONAME; RFC 6761 says
 *                                 no resolver should ask the network for it)
 *   anything else                 goes to the C library's getaddrinfo
 *
 * With SLOW_DNS_LOG=FILE each call on a ".test"/".invalid" name or a
 * numeric-only call adds a line "NAME numeric|dns main|worker": which
 * names reached DNS, and whether the thread asking was the process's
 * main (signaling) thread. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void note(const char *node, int numeric)
{
    const char *path = getenv("SLOW_DNS_LOG");
    if (!path || !*path)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char line[320];
    int main_thread = syscall(SYS_gettid) == getpid();
    int n = snprintf(line, sizeof line, "%s %s %s\n", node, numeric ? "numeric" : "dns",
                     main_thread ? "main" : "worker");
    if (n > 0 && (size_t)n < sizeof line)
        (void)!write(fd, line, (size_t)n); /* one write: lines from threads do not mix */
    close(fd);
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (!real)
        return EAI_SYSTEM;
    int numeric = hints && (hints->ai_flags & AI_NUMERICHOST);
    int ours = node && (ends_with(node, ".test") || ends_with(node, ".invalid"));
    if (node && (ours || numeric))
        note(node, numeric);
    if (!ours)
        return real(node, service, hints, res);
    if (numeric)
        return EAI_NONAME; /* a name is never a numeric address */
    if (strstr(node, ".slow.")) {
        const char *ms_text = getenv("SLOW_DNS_MS");
        long ms = ms_text ? atol(ms_text) : 3000;
        if (ms < 0 || ms > 60000)
            ms = 3000;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    if (ends_with(node, ".invalid"))
        return EAI_NONAME;
    struct addrinfo loopback = {.ai_family = AF_INET, .ai_flags = AI_NUMERICHOST};
    if (hints) {
        loopback.ai_socktype = hints->ai_socktype;
        loopback.ai_protocol = hints->ai_protocol;
    }
    return real("127.0.0.1", service, &loopback, res);
}
